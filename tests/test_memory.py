"""Freed memory goes back to the system between batches (tagger/memory.py)."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")

# 800 blocks of 100 KB (below glibc's mmap threshold, so on the heap), all freed but the last, which pins
# the heap's top so malloc cannot shrink it by itself; resident MB before and after release_freed_memory.
CHILD = """
import os
from tagger.memory import release_freed_memory

def resident_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

blocks = [bytearray(100_000) for _ in range(800)]
last = blocks[-1]
del blocks
before = resident_mb()
release_freed_memory()
print(before, resident_mb())
"""


def test_freed_heap_blocks_are_returned_to_the_system():
    result = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
    before, after = map(float, result.stdout.split())
    assert before - after > 50  # of the ~76 MB freed (glibc keeps it: the heap's top is still in use)


def test_trims_are_at_most_one_every_half_second(monkeypatch):
    from tagger import memory

    trims, clock = [], iter([100.0, 100.2, 100.49, 100.5, 100.6, 101.2])
    monkeypatch.setattr(memory, "_MALLOC_TRIM", trims.append)
    monkeypatch.setattr(memory, "_last_trim", -memory.MIN_INTERVAL)
    monkeypatch.setattr(memory, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    for _ in range(6):
        memory.release_freed_memory()
    assert len(trims) == 3  # at 100.0, 100.5 and 101.2
