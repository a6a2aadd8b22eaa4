"""Observer of a run's steps (parse, normalize, classify, validate, publish).

Called with a step's name, it returns the context the step runs in. The scale benchmark (benchmarks/pipeline_bench.py)
times the steps with it on the very code path of the CLI; a normal run passes nothing and pays nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

Steps = Callable[[str], AbstractContextManager]


def no_steps(name: str) -> AbstractContextManager:
    return nullcontext()
