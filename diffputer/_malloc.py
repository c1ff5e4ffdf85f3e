"""Keep freed tensor memory in the process (glibc), so the network's loops don't page-fault.

PyTorch's CPU allocator takes every intermediate tensor from malloc. With glibc's defaults a
tensor of a few MiB (a sampling batch of 8,192 rows x 128 hidden units is 4 MiB) is either
mapped fresh or carved from heap that glibc hands back to the system as soon as it is freed,
so each network evaluation touches new pages: about 4,400 page faults and half of its time
on a 2-core machine (``benchmarks/results/malloc.md``). Raising the mmap threshold to its
maximum (32 MiB) and the trim threshold to 256 MiB keeps that memory for the next
evaluation. The cost: up to 256 MiB of freed heap stays with the process.

Applied once, when the first denoiser is built (every fit, load and resume builds one), and
not at all where malloc is not glibc's or where the user tunes it already (``MALLOC_*`` or
``GLIBC_TUNABLES``), or with ``DIFFPUTER_KEEP_FREED_MEMORY=0``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

# mallopt parameters (malloc.h) and the values set.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's maximum on 64-bit
TRIM_THRESHOLD = 256 * 2**20
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                 "MALLOC_MMAP_MAX_", "GLIBC_TUNABLES")
OPT_OUT = "DIFFPUTER_KEEP_FREED_MEMORY"


def wanted(environ, platform: str) -> bool:
    """Whether to tune malloc: on Linux, unless the user opted out or tunes malloc already."""
    if platform != "linux" or environ.get(OPT_OUT, "1") == "0":
        return False
    return not any(name in environ for name in USER_SETTINGS)


@functools.cache
def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds (once per process); whether they were set."""
    if not wanted(os.environ, sys.platform):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
