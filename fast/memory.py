"""Keep freed memory in the process's heap, so that the compiled kernel's arrays do not pay
for fresh pages on every call.

Why. glibc's malloc serves a request above its mmap threshold (128 KiB at start, raised
dynamically up to 32 MiB) with fresh pages from the kernel and returns them on free; the
heap's top is returned to the kernel above the trim threshold. A compiled solve allocates
each Newton iteration's arrays anew (about 14 MiB per evaluation of a full-vocabulary race,
V = 128,256), so each of their pages is faulted in and zeroed by the kernel again: measured
(thread CPU time, one full-vocabulary row, n = 2) 6 ms for the first evaluation of the
finest system against 2 ms for the same evaluation on reused memory, and 4 ms against 1 ms
for a Hessian set-up (docs/fast.md, "Design measurements").

What. :func:`keep_freed_memory` sets, once per process, the mmap threshold to
:data:`MMAP_THRESHOLD` and the trim threshold to :data:`TRIM_THRESHOLD` (``mallopt``), so
requests below 64 MiB come from the heap and up to 256 MiB of freed heap stays mapped for
the next call. It does nothing off glibc, and nothing when the environment variable
``MULTIDRAFT_KEEP_FREED_MEMORY=0`` is set (the process then returns freed memory to the
system as before, and the kernel is slower by the figures above).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

#: Requests of at least this many bytes are still served by mmap (and unmapped on free).
MMAP_THRESHOLD = 64 << 20
#: Freed memory at the heap's top beyond this many bytes is returned to the system.
TRIM_THRESHOLD = 256 << 20
_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3


@functools.cache
def keep_freed_memory() -> bool:
    """Apply the thresholds above (once per process); returns whether they are in effect."""
    if os.environ.get("MULTIDRAFT_KEEP_FREED_MEMORY", "1") == "0":
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
