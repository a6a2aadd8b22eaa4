"""Memory that Arrow freed, given back to the system between the steps of a run.

Arrow's allocator keeps the blocks a step frees for the allocations to come. At national scale a step frees
hundreds of megabytes of temporaries (texts encoded to find the distinct ones, blocks of CSV checked) that the next
steps, allocating other sizes, do not all reuse: they stayed resident, on top of the next step's own peak and in
every process forked after them. Measured on the 1M benchmark with one month added: 0.7 GB left resident by the
text-model cache, back to the system in milliseconds.
"""

from __future__ import annotations

import pyarrow as pa


def give_back() -> None:
    """Return Arrow's free blocks to the system (the pandas string columns and pyarrow compute allocate there)."""
    pa.default_memory_pool().release_unused()
