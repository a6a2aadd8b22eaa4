"""Memory a step freed is given back to the system (pipelines/memory.py), not left resident for the next steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines import memory


def _resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists() or memory._malloc_trim() is None,
                    reason="needs Linux's /proc and glibc's malloc_trim")
def test_freed_heap_between_live_blocks_goes_back_to_the_system():
    # 64 KB blocks come from the C heap; one in ten is kept, so the freed ones are holes the heap cannot shrink past.
    blocks = [np.ones(8 * 1024) for _ in range(4000)]  # 4000 x 64 KB = 250 MB
    kept = blocks[::10]
    del blocks
    before = _resident_mb()
    memory.give_back()
    after = _resident_mb()
    assert before - after > 150, (before, after)
    assert all(block[0] == 1 for block in kept)  # what is alive stays
