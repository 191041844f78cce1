"""Heap settings of the engine's own processes (the CLI and its block workers), not of a
library user's Python.

A tile's tensors (tens of MB each) are allocated and freed over and over. glibc serves blocks
above its mmap threshold (at most 32 MB) with fresh mappings and returns freed heap tops to the
system, so the next tensor page-faults on every 4 KB page it first touches: on this project's
2-core machine that made large elementwise ops 3 to 5 times slower (a 1024² x 16-channel add:
79 ms against 15 ms). Keeping freed memory for reuse trades returning memory to the system
during a job (the process ends with it) for that time.
"""

from __future__ import annotations

import ctypes
import sys

#: mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
#: Freed memory kept at the top of the heap instead of being returned to the system.
KEEP_BYTES = 2**31 - 1


def keep_freed_memory() -> bool:
    """Serve large blocks from the heap and keep freed memory for reuse (glibc only); returns
    whether the settings were applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD,
                                                                       KEEP_BYTES))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False


__all__ = ["keep_freed_memory"]
