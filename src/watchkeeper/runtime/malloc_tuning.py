"""C allocator settings of the long-running server process (glibc only).

A range query over a day of a thousand series works on numpy arrays of tens of megabytes,
a few hundred megabytes in all. By default glibc serves each such block with a fresh
``mmap`` (always above 32 MB; in a thread's arena, from a 64 MB heap it unmaps once empty)
and gives it back on free, so every query faults its working memory in again and the kernel
zeroes it first. That cost is not steady: measured on `bench/query.py`'s
``rate(x[5m])`` over 1,000 series × 24 h, run 30 times on a worker thread, the median
was 303 ms but the slowest runs took 380–620 ms, the difference all system time.
With the settings below the same runs took 280 ms at the median and 284 ms at p95, with
no page faults after the first run.

:func:`keep_freed_memory` makes every thread allocate from the main arena (``M_ARENA_MAX``
1: Python threads take turns under the GIL anyway), serves large blocks from that heap
instead of separate mappings (``M_MMAP_MAX`` 0) and keeps up to :data:`RETAIN_BYTES` freed
at its top for the next query (``M_TRIM_THRESHOLD``); beyond that the heap is trimmed as
usual. The price is resident memory: after a large query the process keeps that much.
An operator who set glibc's own ``MALLOC_*`` tunables in the environment keeps them.
"""

from __future__ import annotations

import ctypes
import logging
import os

log = logging.getLogger(__name__)

RETAIN_BYTES = 512 << 20
"""Freed memory kept for reuse at the top of the heap before glibc gives it back."""

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_ARENA_MAX = -8
_OPERATOR_TUNABLES = ("GLIBC_TUNABLES", "MALLOC_ARENA_MAX", "MALLOC_MMAP_MAX_")


def is_glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError, AttributeError):
        return False


def keep_freed_memory(retain_bytes: int = RETAIN_BYTES) -> bool:
    """Apply the settings above; call before the process starts threads. Return whether
    they were applied (not on another C library, nor when the environment sets glibc's
    tunables)."""
    if not is_glibc():
        return False
    chosen = [name for name in _OPERATOR_TUNABLES if name in os.environ]
    if chosen:
        log.info("allocator left as configured by %s", ", ".join(chosen))
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = all(
        mallopt(option, value) == 1
        for option, value in (
            (M_ARENA_MAX, 1),
            (M_MMAP_MAX, 0),
            (M_TRIM_THRESHOLD, min(retain_bytes, 2**31 - 1)),
        )
    )
    if not done:
        log.warning("the C allocator refused the server's memory settings")
    return done


def release_free_memory(keep_bytes: int = 0) -> bool:
    """Give the C heap's free pages back to the system, keeping up to ``keep_bytes`` free at
    its top (glibc's ``malloc_trim``); return whether any memory was released.

    Free memory *inside* the heap, between blocks still in use, is never returned by glibc
    on its own: after applying a plan of ten thousand checks, ≈40 MB of it stayed resident
    for the life of the server. Call this after such work; it costs a few milliseconds.
    """
    if not is_glibc():
        return False
    trim = ctypes.CDLL(None).malloc_trim
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return bool(trim(keep_bytes))
