"""The scale benchmark's own code (benchmarks/): the corpus generator and the step-timed run, on a tiny corpus.

Speed is not asserted here (figures come from the benchmark's printout); what is asserted is that the generator is
deterministic and messy the way it says, and that the benchmark runs the CLI's code path with the same result.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import orjson
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import generate_decp  # noqa: E402
import pipeline_bench  # noqa: E402


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _records(path: Path) -> list[dict]:
    marches = orjson.loads(path.read_bytes())["marches"]
    return marches["marche"] if isinstance(marches, dict) else marches


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    first, again, other = (generate_decp.generate(3000, seed, "mixed", tmp_path / name, per_file=1000)
                           for seed, name in ((7, "a"), (7, "b"), (8, "c")))
    assert _digests(first[0].parent) == _digests(again[0].parent)
    assert [p.name for p in first] == [p.name for p in other]
    assert _digests(first[0].parent) != _digests(other[0].parent)


def test_formats_sizes_and_months(tmp_path):
    files = generate_decp.generate(2500, 1, "mixed", tmp_path / "mixed", per_file=1000)
    assert [p.name for p in files] == ["decp-2025-10.json", "decp-2025-11.json", "decp-2025-12.json"]
    assert [len(_records(p)) for p in files] == [1000, 1000, 500]
    first = orjson.loads(files[0].read_bytes())
    assert isinstance(first["marches"], dict) and "marche" in first["marches"]  # 2024 format after 2023
    old = generate_decp.generate(1000, 1, "2019", tmp_path / "old", per_file=1000)
    assert isinstance(orjson.loads(old[0].read_bytes())["marches"], list)
    assert old[0].name == "decp-2019-01.json"
    long = generate_decp._month_plan(40 * 25_000, 25_000, "mixed")
    assert long[0][:2] == (generate_decp.dt.date(2022, 9, 1), "2019") and long[-1][:2][1] == "2024"


def test_messy_records_are_there(tmp_path):
    files = generate_decp.generate(20_000, 2, "2024", tmp_path, per_file=10_000)
    records = [r for p in files for r in _records(p)]
    missing_id = sum("id" not in r for r in records)
    missing_buyer = sum("acheteur" not in r for r in records)
    text_amounts = sum(isinstance(r.get("montant"), str) for r in records)
    bad_dates = sum(not r["dateNotification"][:4].isdigit() for r in records)
    uids = [(r["acheteur"]["id"], r["id"]) for r in records if "id" in r and "acheteur" in r]
    repeated = len(uids) - len(set(uids))
    for count in (missing_id, missing_buyer, text_amounts, bad_dates, repeated):
        assert 0 < count < 0.03 * len(records)


def test_distributions_from_real_samples_or_labelled_synthetic(tmp_path):
    absent = generate_decp.read_distributions(tmp_path / "nothing-here")
    assert absent.label == "synthetic"
    real = generate_decp.read_distributions()
    if not (generate_decp.REAL_DATA / "decp").is_dir():
        pytest.skip("real samples absent")
    assert real.label != "synthetic"
    assert len(set(real.objets)) > 1000 and len(set(real.cpv)) > 100
    assert real.amount_quantiles[0] < real.amount_quantiles[50] < real.amount_quantiles[-1]


def test_benchmark_run_equals_the_cli_publication(tmp_path, monkeypatch):
    monkeypatch.setenv("ACHATS_CACHE_DIR", str(tmp_path / "cache"))
    corpus = pipeline_bench.ensure_corpus(tmp_path, 2000, "mixed", 3)
    assert pipeline_bench.ensure_corpus(tmp_path, 2000, "mixed", 3) == corpus  # reused, not regenerated
    result = pipeline_bench.run_one(corpus, tmp_path / "bench-out")
    assert set(result["steps"]) == set(pipeline_bench.STEPS)
    assert result["orjson_floor_s"] > 0 and result["ratio_floor"] > 1
    # Measured before and after the pipeline: the floor of the run is their mean.
    before, after = result["orjson_floor_before_s"], result["orjson_floor_after_s"]
    assert before > 0 and after > 0 and result["orjson_floor_s"] == pytest.approx((before + after) / 2)
    assert result["marches_publies"] + result["rejets"] >= 1900
    total = result["total"]["wall_s"]
    assert sum(step["wall_s"] for step in result["steps"].values()) <= total * 1.01
    assert "total / floor" in pipeline_bench.table(result)
    assert pipeline_bench.check_equal(corpus, tmp_path / "bench-out") == []



def test_new_month_is_the_history_plus_one_file(tmp_path):
    """What --incremental runs on (the run itself, on a cache, is tests/test_file_cache.py's subject)."""
    corpus = pipeline_bench.ensure_corpus(tmp_path, 1200, "2024", 4)
    grown = pipeline_bench.with_new_month(tmp_path, corpus, 300, 4)
    history = pipeline_bench.corpus_files(corpus)
    files = pipeline_bench.corpus_files(grown)
    assert [p.name for p in files] == [p.name for p in history] + [pipeline_bench.NEW_MONTH]
    assert all(p.resolve() == h.resolve() for p, h in zip(files, history))  # links, not copies
    assert len(_records(grown / pipeline_bench.NEW_MONTH)) == 300
    assert json.loads((grown / generate_decp.MANIFEST).read_text())["records"] == 1500


def test_the_month_is_published_over_the_history(tmp_path, monkeypatch):
    """--incremental publishes over a copy of the history's publication, as the monthly run does: its release
    compares with the history's, whose own publication stays as built (--check-equal reads it)."""
    monkeypatch.setenv("ACHATS_CACHE_DIR", str(tmp_path / "cache"))
    corpus = pipeline_bench.ensure_corpus(tmp_path, 600, "2024", 6)
    history = tmp_path / "history"
    built = pipeline_bench.run_one(corpus, history)
    before = _digests(history / "data")
    grown = pipeline_bench.with_new_month(tmp_path, corpus, 200, 6)
    month = pipeline_bench.over_history(history, tmp_path / "month")
    added = pipeline_bench.run_one(grown, month)
    releases = json.loads((month / "archive" / "releases.json").read_text())
    assert len(releases) == 2 and releases[-1]["precedente"] == releases[0]["version"]
    marches = releases[-1]["changements"]["marches"]
    assert marches["ajoutees"] == added["marches_publies"] - built["marches_publies"] > 0
    assert marches["inchangees"] + marches["modifiees"] == built["marches_publies"]
    assert len(json.loads((history / "archive" / "releases.json").read_text())) == 1
    assert _digests(history / "data") == before
