"""A function of the run's in-memory tables computed in a forked process while the run goes on.

The machine has two cores and most of the pipeline's work holds one; checks that only read the tables (the Great
Expectations suites) can run beside the writing of the publication. The child is forked after the tables are
built, so it reads them from memory shared copy-on-write instead of receiving a pickled copy; only its (small)
result comes back. Where fork is missing, or the work is too small to pay a process start, the function runs
at once in this process: the result is the same either way.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any


def _child(function: Callable[..., Any], args: tuple, connection) -> None:
    try:
        outcome = ("ok", function(*args))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
        outcome = ("error", exc)
    try:
        connection.send(outcome)
    except Exception as exc:  # noqa: BLE001 - an exception that does not pickle still says what happened
        connection.send(("error", RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]} ({exc})")))
    finally:
        connection.close()


class Background:
    """``Background(function, *args, fork=True).result()``: ``function(*args)``, computed beside the caller.

    ``fork=False`` computes it at once here. A child that dies (killed, out of memory) is not a verdict: the
    function is then computed here, so a check is never skipped."""

    def __init__(self, function: Callable[..., Any], *args: Any, fork: bool = True) -> None:
        self._function, self._args = function, args
        self._process = self._connection = None
        self._done = False
        self._outcome: tuple[str, Any] | None = None
        if fork and "fork" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("fork")
            self._connection, child_end = context.Pipe(duplex=False)
            # With fork, the target and its arguments are inherited, never pickled: the tables stay shared.
            self._process = context.Process(target=_child, args=(function, args, child_end), daemon=True)
            self._process.start()
            child_end.close()
        else:
            self._compute_here()

    def _compute_here(self) -> None:
        try:
            self._outcome = ("ok", self._function(*self._args))
        except Exception as exc:  # noqa: BLE001 - raised by result(), as the child's would be
            self._outcome = ("error", exc)
        self._done = True

    def result(self) -> Any:
        """The function's value; its exception if it raised one."""
        if not self._done:
            try:
                self._outcome = self._connection.recv()
            except (EOFError, OSError):
                self._outcome = None
            finally:
                self._connection.close()
                self._process.join()
            if self._outcome is None:  # the child died without an answer
                self._compute_here()
            self._done = True
        kind, value = self._outcome
        if kind == "error":
            raise value
        return value

    def cancel(self) -> None:
        """The run stopped before needing the result: the child is stopped, not waited for."""
        if self._process is not None and not self._done:
            self._process.terminate()
            self._process.join()
            self._connection.close()
            self._done = True
            self._outcome = ("error", RuntimeError("calcul annulé"))
