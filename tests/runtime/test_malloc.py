"""The worker's glibc arena cap: threads that allocate in C share at most the arenas it allows.

Each case runs in a fresh interpreter, because the cap only holds for arenas created after it.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only"
)

# Prints what limit_malloc_arenas returned, then how many arenas ("heaps" in malloc_info's XML) exist
# once eight threads have each allocated in C while all of them are alive.
CHILD = """
import ctypes, os, sys, tempfile, threading
from sidequest.runtime.malloc import limit_malloc_arenas

applied = limit_malloc_arenas(int(sys.argv[1])) if sys.argv[1] != "none" else None
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.fdopen.restype = ctypes.c_void_p
libc.fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
all_allocated = threading.Barrier(9)

def allocate():
    libc.malloc(1000)
    all_allocated.wait()
    all_allocated.wait()

threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
all_allocated.wait()
with tempfile.TemporaryFile() as report:
    stream = libc.fdopen(os.dup(report.fileno()), b"w")
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    report.seek(0)
    heaps = report.read().count(b"<heap nr=")
all_allocated.wait()
for thread in threads:
    thread.join()
print(applied, heaps)
"""


def run_child(arenas: str, **env: str) -> tuple[str, int]:
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    done = subprocess.run(
        [sys.executable, "-c", CHILD, arenas], capture_output=True, text=True, timeout=60, env=environment
    )
    assert done.returncode == 0, done.stderr
    applied, heaps = done.stdout.split()
    return applied, int(heaps)


def test_without_the_cap_each_allocating_thread_gets_an_arena_of_its_own() -> None:
    # the control: what the cap prevents
    _, heaps = run_child("none")
    assert heaps > 2


def test_the_cap_applies_and_allocating_threads_share_at_most_that_many_arenas() -> None:
    applied, heaps = run_child("2")
    assert applied == "True"
    assert heaps <= 2


def test_a_malloc_arena_max_in_the_environment_wins() -> None:
    # given MALLOC_ARENA_MAX=4 set by the operator, the call leaves glibc's reading of it alone
    applied, heaps = run_child("1", MALLOC_ARENA_MAX="4")
    assert applied == "False"
    assert 1 < heaps <= 4


def test_a_cap_of_zero_or_less_is_not_applied() -> None:
    applied, heaps = run_child("0")
    assert applied == "False"
    assert heaps > 2


# Allocates and frees 20 MB in small blocks (what imports do), then reads RSS before and after
# release_free_memory: glibc keeps freed pages in its heap until malloc_trim hands them back.
TRIM_CHILD = """
import ctypes
from sidequest.runtime.malloc import release_free_memory

def rss_kb():
    return int([line for line in open("/proc/self/status") if line.startswith("VmRSS")][0].split()[1])

libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
blocks = [libc.malloc(1000) for _ in range(20_000)]
keep = libc.malloc(1000)  # the top of the heap stays in use, so free() alone cannot shrink it
for block in blocks:
    libc.free(block)
before = rss_kb()
print(release_free_memory(), before - rss_kb())
"""


def test_start_up_garbage_goes_back_to_the_system() -> None:
    done = subprocess.run([sys.executable, "-c", TRIM_CHILD], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    ran, released_kb = done.stdout.split()
    assert ran == "True"
    assert int(released_kb) > 10_000
