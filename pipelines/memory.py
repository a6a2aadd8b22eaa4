"""Memory freed by a step, given back to the system before the next one.

Arrow's allocator keeps the blocks a step frees for the allocations to come, and so does the C library's for
Python's objects. At national scale a step frees hundreds of megabytes of temporaries (texts encoded to find the
distinct ones, blocks of CSV checked, the versions of repeated contracts merged) that the next steps, allocating
other sizes, do not all reuse: they stayed resident, on top of the next step's own peak and in every process
forked after them. Measured on the 1M benchmark with one month added: 0.7 GB left resident by the text-model
cache alone, back to the system in milliseconds.
"""

from __future__ import annotations

import ctypes
import functools

import pyarrow as pa


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim``, looked up among the symbols already loaded in this process (no ``ldconfig`` run from
    a process of gigabytes); None elsewhere: musl, macOS, Windows keep their own ways."""
    try:
        function = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes, function.restype = [ctypes.c_size_t], ctypes.c_int
    return function


def give_back() -> None:
    """Return the free blocks of Arrow's pool (pandas' string columns, pyarrow compute) and of the C heap (Python's
    objects) to the system."""
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
