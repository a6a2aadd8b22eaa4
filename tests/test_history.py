"""The history state kept between runs (pipelines/decp/history.py): a run over the last run's files plus new ones
reads, consolidates and classifies only what the new ones touch, and publishes what a run over every file does."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pipelines import pipeline
from pipelines.decp import history

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from pipeline_bench import published_digests  # noqa: E402  (the benchmark's "same publication")

BUYER = "21590163800019"


def _record(ident: str, objet: str = "Lot 7 : menuiseries intérieures", notified: str = "2024-06-29",
            amount: float = 55600, modifications: int = 0, **overrides) -> dict:
    record = {
        "id": ident, "acheteur": {"id": BUYER}, "nature": "Marché", "objet": objet, "codeCPV": "45421000",
        "procedure": "Procédure adaptée", "dureeMois": 14, "dateNotification": notified,
        "datePublicationDonnees": "2024-07-06", "montant": amount, "marcheInnovant": False,
        "lieuExecution": {"code": "53470", "typeCode": "Code postal"},
        "titulaires": [{"titulaire": {"typeIdentifiant": "SIRET", "id": "79466656000022"}}],
        "modifications": [{"modification": {"id": n, "dateNotificationModification": f"2024-0{7 + n}-01",
                                            "montant": amount + 1000 * n}} for n in range(1, modifications + 1)],
    }
    record.update(overrides)
    return record


def _write(path: Path, *records: dict) -> Path:
    path.write_text(json.dumps({"marches": {"marche": list(records)}}, ensure_ascii=False), encoding="utf-8")
    return path


def _history(folder: Path) -> Path:
    """Two files whose contracts repeat: versions merged, a uid reused for two contracts (a collision)."""
    folder.mkdir()
    _write(folder / "decp-2024-01.json", _record("A"), _record("B", "Étude de conception d'un prototype innovant"),
           _record("C", "Lot 1 : gros oeuvre", "2024-01-10"), _record("D"), _record("D", modifications=1),
           _record("E", "Maintenance"))
    _write(folder / "decp-2024-02.json", _record("A"), _record("F", "Nettoyage des locaux"),
           _record("C", "Lot 2 : charpente", "2024-02-12"), _record("H", "Entretien des espaces verts"))
    return folder


def _new_month(folder: Path) -> None:
    """A later file: a new version of A, a third contract under C's uid, D again, a new contract, a record the
    reading refuses."""
    _write(folder / "decp-2024-03.json", _record("A", modifications=2),
           _record("C", "Lot 3 : couverture", "2024-03-15"), _record("D", modifications=1),
           _record("G", "Partenariat d'innovation pour un capteur"), {"id": "SANS-ACHETEUR", "objet": "x"})


@pytest.fixture
def splices(monkeypatch):
    """How many contracts each run's splice received (one entry per run that reused a state)."""
    seen: list[int] = []
    real = history.splice

    def counting(state, new, *args):
        seen.append(len(new))
        return real(state, new, *args)

    monkeypatch.setattr(history, "splice", counting)
    return seen


def _full(corpus: Path, out: Path, monkeypatch) -> dict[str, str]:
    monkeypatch.setenv("ACHATS_CACHE_DIR", "off")
    pipeline.run_from_files([corpus], out)
    return published_digests(out)


def test_a_new_month_is_spliced_into_the_history(tmp_path, monkeypatch, splices):
    corpus = _history(tmp_path / "corpus")
    monkeypatch.setenv("ACHATS_CACHE_DIR", str(tmp_path / "cache"))
    pipeline.run_from_files([corpus], tmp_path / "history")
    assert splices == []  # nothing kept yet
    _new_month(corpus)
    pipeline.run_from_files([corpus], tmp_path / "month")
    assert splices == [4]  # only the new file's contracts (its fifth record is refused)
    pipeline.run_from_files([corpus], tmp_path / "again")  # the same files: nothing to read, nothing to splice
    assert splices == [4, 0]
    full = _full(corpus, tmp_path / "full", monkeypatch)
    assert published_digests(tmp_path / "month") == published_digests(tmp_path / "again") == full
    marches = (tmp_path / "month" / "data" / "marches.csv").read_text(encoding="utf-8")
    assert "Lot 3 : couverture" in marches and "Partenariat d'innovation" in marches
    rejets = (tmp_path / "month" / "data" / "rejets.csv").read_text(encoding="utf-8")
    assert rejets.count("uid_en_collision") == 2


def _change_a_history_file(corpus: Path) -> None:
    _write(corpus / "decp-2024-02.json", _record("F", "Nettoyage des locaux"))


def _rank_the_month_first(corpus: Path) -> None:
    (corpus / "decp-2024-03.json").rename(corpus / "decp-2023-12.json")  # sorts first: the history's ranks move


@pytest.mark.parametrize("change", [_change_a_history_file, _rank_the_month_first], ids=["modifie", "avant"])
def test_inputs_the_history_does_not_hold_are_all_read_again(tmp_path, monkeypatch, splices, change):
    corpus = _history(tmp_path / "corpus")
    monkeypatch.setenv("ACHATS_CACHE_DIR", str(tmp_path / "cache"))
    pipeline.run_from_files([corpus], tmp_path / "history")
    _new_month(corpus)
    change(corpus)
    pipeline.run_from_files([corpus], tmp_path / "month")
    assert splices == []
    assert published_digests(tmp_path / "month") == _full(corpus, tmp_path / "full", monkeypatch)


def test_other_code_reads_everything_again(tmp_path, monkeypatch, splices):
    corpus = _history(tmp_path / "corpus")
    monkeypatch.setenv("ACHATS_CACHE_DIR", str(tmp_path / "cache"))
    pipeline.run_from_files([corpus], tmp_path / "history")
    monkeypatch.setattr(history, "version", lambda: "0123456789abcdef")
    _new_month(corpus)
    pipeline.run_from_files([corpus], tmp_path / "month")
    assert splices == []
    states = [p.name for p in (tmp_path / "cache" / history.FOLDER).iterdir() if p.is_dir()]
    assert len(states) == 1 and states[0].startswith("0123456789abcdef-")  # the old state replaced, not kept


def test_a_failed_publication_keeps_the_previous_state(tmp_path, monkeypatch, splices):
    corpus = _history(tmp_path / "corpus")
    monkeypatch.setenv("ACHATS_CACHE_DIR", str(tmp_path / "cache"))
    pipeline.run_from_files([corpus], tmp_path / "history")
    current = (tmp_path / "cache" / history.FOLDER / history.CURRENT).read_text()
    _new_month(corpus)

    def refuse(*args, **kwargs):
        raise pipeline.PublicationError("refusée pour le test")

    monkeypatch.setattr(pipeline, "publish_tables", refuse)
    with pytest.raises(pipeline.PublicationError):
        pipeline.run_from_files([corpus], tmp_path / "month")
    assert (tmp_path / "cache" / history.FOLDER / history.CURRENT).read_text() == current
    assert [p.name for p in (tmp_path / "cache" / history.FOLDER).iterdir() if p.is_dir()] == [current]


def test_splice_consolidates_as_all_the_records_at_once(real_data):
    """On the real DECP samples split by file: the history of the first files spliced with the last ones gives the
    consolidation of every record at once (kept rows, merged versions, collision rejets in order)."""
    import numpy as np
    import pandas as pd

    from pipelines.decp.batch import take
    from pipelines.decp.consolidate import consolidate_batch
    from pipelines.decp.ingest import ingest_files

    files = sorted((real_data / "decp").glob("decp20*-json/*.json"))
    read = ingest_files(files, 10**9)
    keys = ("date_notification", "montant_initial", "marché")
    whole = consolidate_batch(read.marches, *keys)
    ranks = read.marches.frame["_rang_fichier"].to_numpy(dtype=np.int64)
    for first_new in (len(files) // 2, len(files) - 1):
        old = consolidate_batch(take(read.marches, np.flatnonzero(ranks < first_new)), *keys)
        decisions = pd.DataFrame({"innovant": pd.array(np.arange(len(old.kept)) % 2 == 0, dtype="boolean"),
                                  "innovation_score": pd.array(np.arange(len(old.kept)) / 1e6, dtype="Float64"),
                                  "innovation_signaux": pd.array(["r"] * len(old.kept), dtype="string")})
        state = history.History(history.Seed([], {}), old, decisions)
        new = take(read.marches, np.flatnonzero(ranks >= first_new))
        spliced, known = history.splice(state, new, *keys)
        pd.testing.assert_frame_equal(spliced.kept.frame[list(whole.kept.frame.columns)], whole.kept.frame)
        pd.testing.assert_frame_equal(spliced.kept.links, whole.kept.links)
        assert spliced.merged == whole.merged
        assert spliced.collisions == whole.collisions and spliced.collision_keys == whole.collision_keys
        assert sorted(spliced.others.frame["_position"].astype(str) + spliced.others.frame["_chemin"]) == sorted(
            whole.others.frame["_position"].astype(str) + whole.others.frame["_chemin"])
        # Decisions are known for the rows the new files left alone, and only those.
        touched = spliced.kept.frame["uid"].isin(set(new.frame["uid"]))
        assert known["innovant"].isna().tolist() == touched.tolist()
        carried = old.kept.frame.reset_index(drop=True).assign(**{c: decisions[c] for c in decisions})
        carried = carried.set_index("uid").loc[spliced.kept.frame["uid"][~touched], list(decisions)]
        pd.testing.assert_frame_equal(known[~touched.to_numpy()].reset_index(drop=True),
                                      carried.reset_index(drop=True))
        assert touched.sum() >= len(set(new.frame["uid"])) > 0
        assert len(whole.collisions) > 0 and len(whole.others) > len(whole.collisions)


def test_the_history_moved_elsewhere_takes_the_new_names(tmp_path, monkeypatch, splices):
    corpus = _history(tmp_path / "corpus")
    monkeypatch.setenv("ACHATS_CACHE_DIR", str(tmp_path / "cache"))
    pipeline.run_from_files([corpus], tmp_path / "history")
    moved = tmp_path / "ailleurs"
    corpus.rename(moved)
    _new_month(moved)
    pipeline.run_from_files([moved], tmp_path / "month")
    assert splices == [4]
    assert published_digests(tmp_path / "month") == _full(moved, tmp_path / "full", monkeypatch)
    assert "ailleurs/decp-2024-01.json" in (tmp_path / "month" / "data" / "rejets.csv").read_text(encoding="utf-8")
