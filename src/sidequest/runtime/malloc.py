"""Cap glibc's malloc arenas for a worker process, as MALLOC_ARENA_MAX=2 does.

glibc gives each thread that allocates its own arena (up to 8 per core) and rarely returns their
memory, so a worker whose threads all allocate in C (SQLite connections, hiredis replies) grows by
tens of MB of fragmented arenas: the Sidekiq community's standard fix is MALLOC_ARENA_MAX=2. We apply
it from inside the worker before any thread starts, unless the environment already sets it. Python's
own small-object allocator works under the GIL, so fewer arenas cost no throughput.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

logger = logging.getLogger("sidequest")

M_ARENA_MAX = -8  # from glibc's malloc.h


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Set M_ARENA_MAX on glibc; returns True when applied (False elsewhere or when the env decides)."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ or arenas <= 0:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(M_ARENA_MAX, arenas))
    if not applied:
        logger.debug("mallopt(M_ARENA_MAX, %d) was refused", arenas)
    return applied
