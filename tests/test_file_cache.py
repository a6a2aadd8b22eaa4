"""The per-file reading cache and the parallel reads (pipelines/decp/file_cache.py): same publication, less reading."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipelines import pipeline
from pipelines.decp import file_cache
from pipelines.decp.ingest import InputFile, ingest_files

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import generate_decp  # noqa: E402
from pipeline_bench import published_digests  # noqa: E402

TODAY = dt.date(2026, 1, 15)


@pytest.fixture
def counted_reads(monkeypatch):
    """Names of the files actually read (the cache's misses)."""
    names: list[str] = []
    real = file_cache._read

    def counting(job):
        names.append(job[0].name)
        return real(job)

    monkeypatch.setattr(file_cache, "_read", counting)
    return names


def _corpus(folder: Path) -> Path:
    generate_decp.generate(1500, 5, "mixed", folder, per_file=500)
    return folder


def test_cached_run_publishes_the_same_files(real_data, tmp_path, monkeypatch, counted_reads):
    corpus = _corpus(tmp_path / "corpus")
    inputs = [corpus, real_data / "decp" / "decp2022-json", real_data / "decp" / "decp2019-json"]
    monkeypatch.setenv("ACHATS_CACHE_DIR", "off")
    pipeline.run_from_files(inputs, tmp_path / "uncached")
    read_without_cache = len(counted_reads)
    monkeypatch.setenv("ACHATS_CACHE_DIR", str(tmp_path / "cache"))
    pipeline.run_from_files(inputs, tmp_path / "first")
    counted_reads.clear()
    pipeline.run_from_files(inputs, tmp_path / "cached")
    assert counted_reads == []  # every file came from the cache
    assert read_without_cache >= 15
    assert published_digests(tmp_path / "cached") == published_digests(tmp_path / "uncached") == published_digests(
        tmp_path / "first")


def test_one_new_month_is_the_only_file_read(tmp_path, monkeypatch, counted_reads):
    corpus = _corpus(tmp_path / "corpus")
    monkeypatch.setenv("ACHATS_CACHE_DIR", str(tmp_path / "cache"))
    pipeline.run_from_files([corpus], tmp_path / "history")
    month = tmp_path / "month"
    generate_decp.generate(400, 9, "2024", month, per_file=400)
    shutil.copyfile(month / "decp-2024-01.json", corpus / "decp-2026-01.json")
    counted_reads.clear()
    pipeline.run_from_files([corpus], tmp_path / "incremental")
    assert counted_reads == ["corpus/decp-2026-01.json"]
    monkeypatch.setenv("ACHATS_CACHE_DIR", "off")
    pipeline.run_from_files([corpus], tmp_path / "full")
    assert published_digests(tmp_path / "incremental") == published_digests(tmp_path / "full")


def test_same_bytes_elsewhere_take_the_new_names(tmp_path, counted_reads):
    corpus = _corpus(tmp_path / "a")
    first = ingest_files([corpus], 10**9, TODAY, cache_dir=tmp_path / "cache")
    moved = tmp_path / "b"
    shutil.copytree(corpus, moved)
    counted_reads.clear()
    again = ingest_files([moved / "decp-2025-12.json", moved / "decp-2025-11.json"], 10**9, TODAY,
                         cache_dir=tmp_path / "cache")
    assert counted_reads == []
    assert [f["fichier"] for f in again.fichiers] == ["decp-2025-12.json", "decp-2025-11.json"]
    marches = again.marches.frame
    assert set(marches["_chemin"]) == {"decp-2025-12.json", "decp-2025-11.json"}
    assert set(marches.loc[marches["_chemin"] == "decp-2025-12.json", "_rang_fichier"]) == {0}
    assert set(marches["source_fichier"]) == {"decp-2025-12.json", "decp-2025-11.json"}
    assert {r["fichier"] for r in again.rejets} <= {"decp-2025-12.json", "decp-2025-11.json"}
    assert len(again.marches) == (first.marches.frame["_chemin"] != "a/decp-2025-10.json").sum()


def _one_record_file(path: Path, notified: str) -> None:
    record = {"id": "X1", "acheteur": {"id": "21590163800019"}, "objet": "Travaux", "montant": 50000.0,
              "dateNotification": notified, "codeCPV": "45000000", "procedure": "Procédure adaptée"}
    path.write_text(json.dumps({"marches": {"marche": [record]}}), encoding="utf-8")


def test_a_day_that_judges_dates_otherwise_reads_again(tmp_path, counted_reads):
    path = tmp_path / "late.json"
    _one_record_file(path, "2027-01-20")  # refused as implausible on TODAY (limit 2027-01-16), kept a week later
    first = ingest_files([path], 10**9, TODAY, cache_dir=tmp_path / "cache")
    assert first.marches.frame["date_notification"].isna().all()
    counted_reads.clear()
    ingest_files([path], 10**9, TODAY + dt.timedelta(days=1), cache_dir=tmp_path / "cache")
    assert counted_reads == []  # still refused on the next day: reused
    later = ingest_files([path], 10**9, TODAY + dt.timedelta(days=7), cache_dir=tmp_path / "cache")
    assert counted_reads == ["late.json"]
    assert list(later.marches.frame["date_notification"]) == [pd.Timestamp(2027, 1, 20)]


def test_parallel_reads_equal_sequential(tmp_path, counted_reads):
    corpus = _corpus(tmp_path / "corpus")
    sequential = ingest_files([corpus], 10**9, TODAY, workers=0)
    single = ingest_files([corpus], 10**9, TODAY, workers=1)  # one worker process reads every file
    parallel = ingest_files([corpus], 10**9, TODAY, workers=2, cache_dir=tmp_path / "cache")
    counted_reads.clear()
    cached = ingest_files([corpus], 10**9, TODAY, workers=2, cache_dir=tmp_path / "cache")
    assert counted_reads == []  # the workers wrote the cache
    assert len(list((tmp_path / "cache").rglob("*.pickle"))) == 3
    for name in ("concessions", "rejets", "fichiers"):
        assert getattr(parallel, name) == getattr(sequential, name) == getattr(cached, name) \
            == getattr(single, name), name
    for other in (parallel, cached, single):
        pd.testing.assert_frame_equal(other.marches.frame, sequential.marches.frame)
        pd.testing.assert_frame_equal(other.marches.links, sequential.marches.links)
    assert len(sequential.marches) > 0 and len(sequential.marches.links) > 0


@pytest.mark.parametrize("workers", [0, 2], ids=["ici", "processus"])
def test_meanwhile_is_called_here_once_while_files_are_read(tmp_path, workers):
    corpus = _corpus(tmp_path / "corpus")
    calls = []
    read = ingest_files([corpus], 10**9, TODAY, workers=workers, cache_dir=tmp_path / "cache",
                        meanwhile=lambda: calls.append(os.getpid()))
    assert calls == [os.getpid()] and len(read.marches) > 0
    calls.clear()
    ingest_files([corpus], 10**9, TODAY, workers=workers, cache_dir=tmp_path / "cache",
                 meanwhile=lambda: calls.append(os.getpid()))
    assert calls == []  # every file from the cache: nobody to wait for


def test_entries_of_other_code_versions_are_dropped(tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    stale = tmp_path / "cache" / ("0" * len(file_cache.code_version()))
    stale.mkdir(parents=True)
    (stale / "old.pickle").write_bytes(b"x")
    unrelated = tmp_path / "cache" / "notes"
    unrelated.mkdir()
    ingest_files([corpus], 10**9, TODAY, cache_dir=tmp_path / "cache")
    assert not stale.exists() and unrelated.exists()
    assert len(list((tmp_path / "cache" / file_cache.code_version()).glob("*.pickle"))) == 3


def test_reading_processes_follow_the_bytes_to_read(tmp_path):
    """Small inputs are read here; from SEPARATE_MIN_BYTES in one worker process (its memory is not left to the
    run); from PARALLEL_MIN_BYTES in two files or more, in two."""
    def jobs(*sizes):
        made = []
        for i, size in enumerate(sizes):
            path = tmp_path / f"f{len(list(tmp_path.iterdir()))}-{i}.json"
            with path.open("wb") as handle:
                handle.truncate(size)  # sparse: only the size is looked at
            made.append((InputFile(path, path.name), i, 10**12, TODAY))
        return made

    mb = 1024 * 1024
    assert file_cache.parallel_reads(jobs(1 * mb, 2 * mb)) == 0
    assert file_cache.parallel_reads(jobs(file_cache.SEPARATE_MIN_BYTES)) == 1
    assert file_cache.parallel_reads(jobs(file_cache.PARALLEL_MIN_BYTES)) == 1
    expected = 2 if (os.cpu_count() or 1) >= 2 else 1
    assert file_cache.parallel_reads(jobs(file_cache.PARALLEL_MIN_BYTES // 2, file_cache.PARALLEL_MIN_BYTES // 2)) \
        == expected
