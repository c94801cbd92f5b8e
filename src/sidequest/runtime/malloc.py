"""Cap glibc's malloc arenas for a worker process, as MALLOC_ARENA_MAX=2 does; give back start-up garbage.

glibc gives each thread that allocates its own arena (up to 8 per core) and rarely returns their
memory, so a worker whose threads all allocate in C (SQLite connections, hiredis replies) grows by
tens of MB of fragmented arenas: the Sidekiq community's standard fix is MALLOC_ARENA_MAX=2. We apply
it from inside the worker before any thread starts, unless the environment already sets it. Python's
own small-object allocator works under the GIL, so fewer arenas cost no throughput.

Start-up (imports, reading and compiling modules) frees most of what it allocates, but glibc keeps
the freed pages; one malloc_trim once the worker runs returns them (about 0.4 MB of an idle Redis
worker's 36 MB here; docs/benchmarks.md, idle RSS).
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import sys

logger = logging.getLogger("sidequest")

M_ARENA_MAX = -8  # from glibc's malloc.h


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        # the process's own symbol table, libc's included: no ctypes.util, which runs `ldconfig -p`
        # to find the file and stays in memory after
        return ctypes.CDLL(None)
    except OSError:
        return None


def release_free_memory() -> bool:
    """Collect garbage, then hand glibc's free pages back to the system; True when malloc_trim ran."""
    gc.collect()
    libc = _glibc()
    trim = getattr(libc, "malloc_trim", None)  # glibc only
    if trim is None:
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    trim(0)
    return True


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Set M_ARENA_MAX on glibc; returns True when applied (False elsewhere or when the env decides)."""
    if "MALLOC_ARENA_MAX" in os.environ or arenas <= 0:
        return False
    libc = _glibc()
    mallopt = getattr(libc, "mallopt", None)  # not glibc (e.g. musl has no mallopt)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(M_ARENA_MAX, arenas))
    if not applied:
        logger.debug("mallopt(M_ARENA_MAX, %d) was refused", arenas)
    return applied
