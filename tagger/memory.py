"""Freed memory handed back to the system between batches, so a long run's resident memory stays
that of its largest batch.

glibc's malloc keeps what a process frees for reuse, and once a large block is freed it serves blocks
of that size from the heap instead of mappings of their own (its `M_MMAP_THRESHOLD` rises, up to
32 MB). Batch tensors then stay resident after they are freed, fragmented among live ones: a
`Tagger.pipe` over 1M words peaked 16 % above its peak after 100k words in bfloat16 (2 threads, en_ewt).
`malloc_trim` after each group of texts returns the free pages (1.16 -> 1.07, same speed); a fixed
threshold instead (`MALLOC_MMAP_THRESHOLD_`) bounded it too but tagged 50 % slower, every large
tensor then mapped afresh. A trim takes milliseconds, so it runs at most every `MIN_INTERVAL` seconds:
after every batch of a server under load (9 a second) it cost 8 % of the server's CPU. Other C
libraries (musl, macOS) have no `malloc_trim`: there this does nothing.
"""

from __future__ import annotations

import ctypes
import sys
import time
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _malloc_trim()
MIN_INTERVAL = 0.5  # seconds between trims, process-wide
_last_trim = -MIN_INTERVAL


def release_freed_memory() -> None:
    """Return the C heap's free pages to the system (glibc), unless that was done less than MIN_INTERVAL
    seconds ago: call between batches, not inside. (Two threads may both trim at once: harmless.)"""
    global _last_trim
    now = time.monotonic()
    if _MALLOC_TRIM is not None and now - _last_trim >= MIN_INTERVAL:
        _last_trim = now
        _MALLOC_TRIM(0)
