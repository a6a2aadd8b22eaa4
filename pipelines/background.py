"""A function of the run's in-memory tables computed in a forked process while the run goes on.

The machine has two cores and most of the pipeline's work holds one; work that only reads what is in memory can
run beside it: the Great Expectations suites beside the writing of the publication, half of the text-model scoring
beside the other half. The child is forked once its inputs are built, so it reads them from memory shared
copy-on-write instead of receiving a pickled copy; only its (small) result comes back. Where fork is missing, or
the work is too small to pay a process start, the function runs at once in this process: the result is the same
either way.
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Callable
from typing import Any


# A child silent for this long is taken for stuck (a lock held by another thread of the parent at the fork, say):
# it is stopped and the work done here. Far above the minutes the national checks take.
TIMEOUT_S = 1800.0


def _child(function: Callable[..., Any], args: tuple, connection) -> None:
    try:
        outcome = ("ok", function(*args))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
        outcome = ("error", exc)
    try:
        # Checked here: an exception that pickles but cannot be rebuilt would reach the parent as a TypeError.
        connection.send_bytes(_round_trip(outcome))
    except Exception as exc:  # noqa: BLE001 - whatever did not travel still says what happened
        message = f"{type(outcome[1]).__name__}: {outcome[1]}" if outcome[0] == "error" else "résultat"
        connection.send_bytes(pickle.dumps(("error", RuntimeError(f"{message} (non transmissible : {exc})"))))
    finally:
        connection.close()


def _round_trip(outcome: tuple[str, Any]) -> bytes:
    data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    pickle.loads(data)
    return data


class Background:
    """``Background(function, *args, fork=True).result()``: ``function(*args)``, computed beside the caller.

    ``fork=False`` computes it at once here. A child that dies (killed, out of memory), cannot be started, or
    stays silent longer than ``timeout`` is not a verdict: the function is then computed here, so a check is
    never skipped."""

    def __init__(self, function: Callable[..., Any], *args: Any, fork: bool = True,
                 timeout: float = TIMEOUT_S) -> None:
        self._function, self._args, self._timeout = function, args, timeout
        self._process = self._connection = None
        self._done = False
        self._outcome: tuple[str, Any] | None = None
        if fork and "fork" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("fork")
            self._connection, child_end = context.Pipe(duplex=False)
            # With fork, the target and its arguments are inherited, never pickled: the tables stay shared.
            self._process = context.Process(target=_child, args=(function, args, child_end), daemon=True)
            try:
                self._process.start()
            except OSError:  # no memory or process left for a child: the work is done here
                self._process = None
                self._connection.close()
            finally:
                child_end.close()
        if self._process is None:
            self._compute_here()

    def _compute_here(self) -> None:
        try:
            self._outcome = ("ok", self._function(*self._args))
        except Exception as exc:  # noqa: BLE001 - raised by result(), as the child's would be
            self._outcome = ("error", exc)
        self._done = True

    def _receive(self) -> tuple[str, Any] | None:
        """The child's outcome; None when it died, stayed silent too long or sent what cannot be read."""
        try:
            if not self._connection.poll(self._timeout):
                return None
            return pickle.loads(self._connection.recv_bytes())
        except (EOFError, OSError, pickle.UnpicklingError):
            return None

    def result(self) -> Any:
        """The function's value; its exception if it raised one."""
        if not self._done:
            self._outcome = None
            try:
                self._outcome = self._receive()
            finally:  # also on KeyboardInterrupt: no child is left behind
                self._stop(grace=10.0 if self._outcome is not None else 0.0)
            if self._outcome is None:
                self._compute_here()
            self._done = True
        kind, value = self._outcome
        if kind == "error":
            raise value
        return value

    def _stop(self, grace: float = 0.0) -> None:
        """Wait ``grace`` seconds for the child to exit by itself (it has answered), then stop it."""
        self._process.join(grace)
        if self._process.is_alive():
            # SIGKILL, not SIGTERM: the child inherits the parent's signal handlers (a test runner's, say), which
            # may catch SIGTERM and carry on; it holds nothing that needs cleaning up.
            self._process.kill()
        self._process.join()
        self._connection.close()

    @property
    def exitcode(self) -> int | None:
        """The child's exit code once stopped (None: no child, or still running)."""
        return self._process.exitcode if self._process is not None else None

    def cancel(self) -> None:
        """The run stopped before needing the result: the child is stopped, not waited for."""
        if self._process is not None and not self._done:
            self._stop()
            self._done = True
            self._outcome = ("error", RuntimeError("calcul annulé"))
