"""Work computed in a forked process beside the run (pipelines/background), and the business-rules gate of the
CLI run that uses it: a blocking failure found in the child stops the publication as it did in-process."""

from __future__ import annotations

import os
import shutil
import signal
import time

import pytest

from pipelines import pipeline
from pipelines.background import Background
from pipelines.publish import PublicationError
from pipelines.settings import sample_files

PARENT = os.getpid()


class NotPicklable:
    """Arguments reach the child through the fork: pickling them would fail loudly."""

    def __init__(self, values):
        self.values = values

    def __reduce__(self):
        raise TypeError("pickled")


def _total_and_pid(data: NotPicklable) -> tuple[int, int]:
    return sum(data.values), os.getpid()


def _fails(message: str) -> None:
    raise ValueError(message)


def _dies_in_child() -> int:
    if os.getpid() != PARENT:
        os.kill(os.getpid(), signal.SIGKILL)
    return 42


def _sleeps() -> None:
    time.sleep(60)


def _sleeps_in_child() -> str:
    if os.getpid() != PARENT:
        time.sleep(60)
    return "ici"


def test_value_computed_in_a_child_from_unpickled_arguments():
    value, pid = Background(_total_and_pid, NotPicklable(list(range(1000)))).result()
    assert value == 499500 and pid != os.getpid()


def test_fork_false_computes_here():
    value, pid = Background(_total_and_pid, NotPicklable([1, 2]), fork=False).result()
    assert (value, pid) == (3, os.getpid())


def test_the_child_exception_is_raised_by_result():
    pending = Background(_fails, "règle cassée")
    with pytest.raises(ValueError, match="règle cassée"):
        pending.result()


def test_a_child_killed_without_answer_is_computed_again_here():
    pending = Background(_dies_in_child)
    assert pending.result() == 42
    assert pending.exitcode == -signal.SIGKILL  # there was a child, and it died


def test_a_silent_child_is_stopped_at_the_deadline_and_the_work_done_here():
    started = time.monotonic()
    pending = Background(_sleeps_in_child, timeout=1.0)
    assert pending.result() == "ici"
    assert time.monotonic() - started < 30 and pending.exitcode == -signal.SIGKILL


class Unrebuildable(Exception):
    def __init__(self, code, detail):
        super().__init__(f"{code}: {detail}")


def _raises_unrebuildable() -> None:
    raise Unrebuildable(7, "détail")


def test_an_exception_that_cannot_travel_still_says_what_happened():
    with pytest.raises(RuntimeError, match="Unrebuildable: 7: détail"):
        Background(_raises_unrebuildable).result()


def test_business_rules_give_the_same_failures_in_a_child(tables_with_failures):
    here = pipeline.quality_failures(tables_with_failures)
    assert here and any("marches" in line for line in here)
    assert Background(pipeline.quality_failures, tables_with_failures).result() == here


@pytest.mark.parametrize("forked", [True, False], ids=["fork", "ici"])
def test_business_rules_in_rounds_fail_as_one_pass(tables_with_failures, forked):
    """Settled tables checked once normalised, classified ones once classified, the rest last: the same lines, in
    the same order."""
    tables = dict(tables_with_failures)
    orphan = tables["titulaires"].copy()
    orphan.loc[0, "uid"] = "uid-sans-marche"
    tables["titulaires"] = orphan
    expected = pipeline.quality_failures(tables)
    assert [line.split(" : ")[0] for line in expected][:2] == ["marches", "marches"]
    assert any(line.startswith("titulaires : ") for line in expected)
    rules = pipeline._BusinessRules(pipeline.BACKGROUND_CHECKS_MIN_ROWS if forked else 0)
    rules.start(tables, pipeline.SETTLED_TABLES)
    rules.start(tables, pipeline.CLASSIFIED_TABLES)
    rules.start(tables, [name for name in pipeline.TABLES
                         if name not in pipeline.SETTLED_TABLES + pipeline.CLASSIFIED_TABLES])
    with pytest.raises(PublicationError) as raised:
        rules.gate()
    assert str(raised.value).split(" : ", 1)[1] == " ; ".join(expected[:5])
    assert [pending.exitcode for pending in rules.rounds] == ([0, 0, 0] if forked else [None, None, None])


def test_cancel_stops_the_child_without_waiting_for_it():
    started = time.monotonic()
    pending = Background(_sleeps)
    pending.cancel()
    assert time.monotonic() - started < 10
    assert pending.exitcode == -signal.SIGKILL


@pytest.fixture(scope="module")
def tables_with_failures():
    """The sample's tables with blocking faults: a duplicated contract, a score out of [0, 1]."""
    normalized = pipeline.normalize(pipeline.ingest(sample_files()))
    marches = pipeline.classify_marches(normalized.marches)
    broken = marches.copy()
    broken.loc[1, "uid"] = broken.loc[0, "uid"]
    broken.loc[2, "innovation_score"] = 2.5
    return {"marches": broken, "titulaires": normalized.titulaires, "rejets": normalized.rejets}


@pytest.fixture(scope="module")
def previous(tmp_path_factory):
    out = tmp_path_factory.mktemp("precedente") / "publication"
    pipeline.run_from_files(sample_files(), out)
    return out


@pytest.mark.parametrize("min_rows", [0, 10**9], ids=["fork", "ici"])
def test_blocking_business_rule_stops_the_publication(previous, tmp_path, monkeypatch, min_rows):
    out = tmp_path / "publication"
    shutil.copytree(previous, out)
    before = (out / "data" / "marches.csv").read_bytes()
    monkeypatch.setattr(pipeline, "BACKGROUND_CHECKS_MIN_ROWS", min_rows)
    monkeypatch.setattr(pipeline, "quality_failures", lambda tables, names: [
        f"{name} : {len(tables[name])} lignes, règle bloquante" for name in names if name in ("marches", "rejets")])
    # Failures of both rounds (rejets is settled once normalised, marches once classified), in publication order.
    with pytest.raises(PublicationError, match=r"respectées .*: marches : \d+ lignes, règle bloquante ; rejets : \d+ lig"):
        pipeline.run_from_files(sample_files(), out)
    assert (out / "data" / "marches.csv").read_bytes() == before
    assert not list(tmp_path.glob(".publication.en-cours-*"))


def test_rounds_forked_from_a_run_use_the_gx_context_built_while_files_were_read(tmp_path, monkeypatch):
    """The run builds GX's context while its files are read (pipeline._preload); the rounds of business rules
    forked afterwards inherit it: none imports GX and builds a context of its own (4 s of CPU each)."""
    from pipelines.quality import expectations

    built = tmp_path / "contextes-gx"
    real_init = expectations._Gx.__init__

    def counted(self):
        with built.open("a", encoding="utf-8") as log:
            log.write(f"{os.getpid()}\n")
        real_init(self)

    monkeypatch.setattr(expectations._Gx, "__init__", counted)
    monkeypatch.setattr(expectations, "_STATE", {})  # as in a fresh run's process
    monkeypatch.setattr(pipeline, "BACKGROUND_CHECKS_MIN_ROWS", 0)  # the rounds forked, as for a national run
    rounds = []
    real_start = pipeline._BusinessRules.start
    monkeypatch.setattr(pipeline._BusinessRules, "start",
                        lambda self, tables, names: rounds.append(names) or real_start(self, tables, names))
    pipeline.run_from_files(sample_files(), tmp_path / "publication")
    assert len(rounds) == 3
    assert built.read_text(encoding="utf-8").split() == [str(os.getpid())]
