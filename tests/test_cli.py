"""The console script, run as a user would (a subprocess), on the shipped sample and on bad input."""

import subprocess
import sys

import pandas as pd
from frictionless import validate

from pipelines.settings import SAMPLE_DIR


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_run_from_files_publishes_the_sample(tmp_path):
    out = tmp_path / "pub"
    result = _cli("run", "--from-files", SAMPLE_DIR, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "marchés publiés" in result.stdout
    assert validate(out / "datapackage.json").valid
    marches = pd.read_csv(out / "data/marches.csv", dtype=str, keep_default_na=False)
    assert marches["uid"].is_unique and len(marches) > 50
    assert set(marches["format_source"]) == {"decp-2024-json", "decp-2019-json", "decp-2024-xml"}


def test_missing_input_is_one_line_naming_the_file(tmp_path):
    result = _cli("run", "--from-files", tmp_path / "absent.json", "--out", tmp_path / "pub")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "absent.json" in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "pub").exists()


def test_output_that_is_not_a_publication_is_refused(tmp_path):
    target = tmp_path / "documents"
    target.mkdir()
    (target / "notes.txt").write_text("x", encoding="utf-8")
    result = _cli("run", "--from-files", SAMPLE_DIR, "--out", target)
    assert result.returncode == 1
    assert str(target) in result.stderr and "Traceback" not in result.stderr
    assert (target / "notes.txt").exists()


def test_classify_adds_the_three_columns_in_input_order(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(
        "ref;objet;code_cpv;montant\n"
        "a;Partenariat d'innovation pour un drone de surveillance;;2000000\n"
        "b;Fourniture de papier pour le Centre de recherche;30192000;12000\n"
        "c;Travaux de peinture;45442100;50 000,00\n",
        encoding="utf-8",
    )
    target = tmp_path / "out.csv"
    result = _cli("classify", source, "--out", target)
    assert result.returncode == 0, result.stderr
    out = pd.read_csv(target, dtype=str, keep_default_na=False)
    assert list(out.columns) == ["ref", "objet", "code_cpv", "montant", "innovant", "innovation_score",
                                 "innovation_signaux"]
    assert list(out["ref"]) == ["a", "b", "c"]
    assert list(out["innovant"]) == ["true", "false", "false"]
    assert out.loc[0, "innovation_signaux"] != ""


def test_classify_without_objet_column_fails_clearly(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("titre,montant\nx,1\n", encoding="utf-8")
    result = _cli("classify", source, "--out", tmp_path / "out.csv")
    assert result.returncode == 1
    assert "in.csv" in result.stderr and "objet" in result.stderr and "Traceback" not in result.stderr


def test_live_run_refuses_unknown_sources_and_bad_dates(tmp_path):
    result = _cli("run", "--out", tmp_path / "pub", "--sources", "decp,place")
    assert result.returncode == 2 and "place" in result.stderr
    result = _cli("run", "--out", tmp_path / "pub", "--since", "2025-13-01")
    assert result.returncode == 1 and "--since" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "pub").exists()


def test_sirene_downloads_the_stock_from_a_local_stand_in(httpserver, tmp_path):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.table({"siren": ["110000270"], "categorieJuridiqueUniteLegale": ["7120"],
                             "denominationUniteLegale": ["CONSEIL D'ETAT"], "categorieEntreprise": [None]}), buffer)
    httpserver.expect_request("/stock.parquet").respond_with_data(buffer.getvalue(),
                                                                  content_type="application/octet-stream")
    httpserver.expect_request("/broken.parquet").respond_with_data("boom", status=500)
    target = tmp_path / "sirene" / "StockUniteLegale.parquet"
    ok = _cli("sirene", "--url", httpserver.url_for("/stock.parquet"), "--out", target)
    assert ok.returncode == 0, ok.stderr
    assert pq.read_table(target).column("siren").to_pylist() == ["110000270"]
    failed = _cli("sirene", "--url", httpserver.url_for("/broken.parquet"), "--out", target)
    assert failed.returncode == 1 and "broken.parquet" in failed.stderr and "Traceback" not in failed.stderr
    assert pq.read_table(target).num_rows == 1  # the previous stock is kept
