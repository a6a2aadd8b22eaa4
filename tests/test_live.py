"""Live collection end to end against the local replay server: Dagster partitions and the CLI, into `avis`."""

import os
import subprocess
import sys

import dagster as dg
import pandas as pd
from frictionless import validate

from pipelines.defs import assets, checks, collect
from pipelines.defs.resources import DecpInputs, PublicationTarget, RawStore
from tests.replay import ReplayServer
from tests.test_spiders import BOAMP_BASE, DECP_BASE, FAST, TED_BASE, FakeOds, FakeTed, day_records

BOAMP_DAY = "2024-03-05"
TED_DAY = "2024-01-24"


def _urls(server: ReplayServer) -> dict[str, str]:
    return {"BOAMP_API_URL": server.url(BOAMP_BASE), "TED_API_URL": server.url(TED_BASE),
            "DECP_API_URL": server.url(DECP_BASE)}


def test_dagster_materializes_one_boamp_day_and_one_ted_day_into_avis(tmp_path, real_data, boamp_real):
    raw, out = tmp_path / "raw", tmp_path / "published"
    with ReplayServer() as server:
        FakeOds({BOAMP_DAY: day_records(boamp_real, 130, BOAMP_DAY)}).install(server)
        FakeTed(real_data, server)
        resources = {
            "raw_store": RawStore(root=str(raw), crawl_settings={**FAST, **_urls(server)}),
            "decp_inputs": DecpInputs(paths=[]),
            "publication_target": PublicationTarget(out_dir=str(out)),
        }
        for asset, day in ((collect.raw_boamp, BOAMP_DAY), (collect.raw_ted, TED_DAY)):
            result = dg.materialize([asset], resources=resources, partition_key=day)
            assert result.success
            metadata = result.get_asset_materialization_events()[0].materialization.metadata
            assert metadata["partitions_ecrites"].value == [day]
            assert metadata["fichiers"].value > 0
    result = dg.materialize(
        [*dg.load_assets_from_modules([collect, assets]), *checks.SCHEMA_CHECKS, checks.regles_metier_marches],
        resources=resources, selection=assets.PIPELINE,
    )
    assert result.success
    avis = result.output_for_node("avis")
    boamp = avis[avis["source"] == "boamp"]
    assert len(boamp) == 130 and boamp["id_avis"].is_unique
    ted = avis[avis["source"] == "ted"].set_index("id_avis")
    # Every served notice XML became a row (the search rows of the same notices were merged into them).
    assert {"ted:47522-2024", "ted:219998-2024", "ted:41387-2024", "ted:191536-2024", "ted:553508-2023"} <= set(
        ted.index)
    innovation = ted[ted["innovation_signaux"].str.contains("procedure_partenariat_innovation", na=False)]
    assert len(innovation) == 1 and bool(innovation["innovant"].iloc[0])
    assert validate(out / "datapackage.json").valid
    published = pd.read_csv(out / "data/avis.csv", dtype=str, keep_default_na=False)
    assert len(published) == len(avis)


def test_cli_live_run_crawls_then_publishes(tmp_path, real_data):
    raw, out = tmp_path / "raw", tmp_path / "published"
    with ReplayServer() as server:
        FakeTed(real_data, server)
        env = dict(os.environ, ACHATS_RAW_DIR=str(raw), **_urls(server),
                   ACHATS_CRAWL_SETTINGS=";".join(f"{k}={v}" for k, v in FAST.items()))
        result = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "run", "--sources", "ted", "--since", TED_DAY, "--until", TED_DAY,
             "--out", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (raw / "ted" / TED_DAY / "manifest.jsonl").is_file()
    avis = pd.read_csv(out / "data/avis.csv", dtype=str, keep_default_na=False)
    assert set(avis["source"]) == {"ted"} and len(avis) >= 5


def test_cli_live_run_failure_leaves_the_publication_alone(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "published"
    out.mkdir()
    (out / "datapackage.json").write_text("{}", encoding="utf-8")
    with ReplayServer() as server:  # no route: every request answers 404
        env = dict(os.environ, ACHATS_RAW_DIR=str(raw), **_urls(server),
                   ACHATS_CRAWL_SETTINGS=";".join(f"{k}={v}" for k, v in FAST.items()))
        result = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "run", "--sources", "boamp", "--since", BOAMP_DAY, "--until",
             BOAMP_DAY, "--out", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 1
    assert "collecte boamp" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert (out / "datapackage.json").read_text(encoding="utf-8") == "{}"


def test_backfill_of_a_range_is_one_crawl_writing_each_day(tmp_path, boamp_real):
    days = ["2024-03-04", "2024-03-05"]
    raw = tmp_path / "raw"
    with ReplayServer() as server:
        FakeOds({day: day_records(boamp_real, 30, day) for day in days}).install(server)
        result = dg.materialize(
            [collect.raw_boamp],
            resources={"raw_store": RawStore(root=str(raw), crawl_settings={**FAST, **_urls(server)})},
            tags={"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[1]},
        )
    assert result.success
    assert sorted(p.name for p in (raw / "boamp").iterdir() if not p.name.startswith(("_", "."))) == days


def test_no_raw_snapshot_is_an_error_not_the_demo_sample(tmp_path):
    import pytest

    from pipelines.pipeline import NoInputError, default_inputs

    with pytest.raises(NoInputError, match="aucun snapshot"):
        default_inputs(tmp_path / "raw")
