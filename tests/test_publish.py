"""Publication: valid package, hashes, and a failed run that leaves the previous publication untouched."""

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from frictionless import validate

from pipelines import pipeline, schemas
from pipelines.classify import METHOD_VERSION
from pipelines.publish import PublicationError, publish
from pipelines.settings import SAMPLE_DIR
from pipelines.files import sha256_file as sha256
from pipelines.writers import write_csv


@pytest.fixture(scope="module")
def sample_tables():
    normalized = pipeline.normalize(pipeline.ingest([SAMPLE_DIR]))
    marches = pipeline.classify_marches(normalized.marches)
    indicateurs = pipeline.indicators(marches, normalized.titulaires)
    return {
        "marches": marches,
        "titulaires": normalized.titulaires,
        "concessions": normalized.concessions,
        "avis": pipeline.classify_avis(normalized.avis),
        "indicateurs": indicateurs,
        "references": pipeline.references(indicateurs, marches),
        "rejets": normalized.rejets,
        "qualite": normalized.qualite,
    }


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_publication_is_a_valid_data_package(sample_tables, tmp_path):
    out = tmp_path / "published"
    files = publish(sample_tables, out, inputs=[{"fichier": "x"}])
    assert validate(out / "datapackage.json").valid
    package = json.loads((out / "datapackage.json").read_text(encoding="utf-8"))
    assert package["licenses"][0]["name"] == "etalab-2.0"
    names = [r["name"] for r in package["resources"]]
    assert names == ["marches", "titulaires", "concessions", "avis", "indicateurs", "references", "rejets",
                     "qualite"]
    for resource in package["resources"]:
        assert resource["hash"] == "sha256:" + sha256(out / resource["path"])
        for other in resource["autres_formats"]:
            assert other["hash"] == "sha256:" + sha256(out / other["path"])
    assert {f.path for f in files} >= {"data/marches.csv", "data/marches.parquet", "data/indicateurs.csv",
                                       "data/rejets.csv"}
    parquet = pd.read_parquet(out / "data/marches.parquet")
    assert list(parquet.columns) == schemas.field_names("marches")
    assert len(parquet) == len(sample_tables["marches"])
    # The classifier's model card travels with the data it decided, under the method version it describes.
    assert package["methode"]["version"] == METHOD_VERSION
    cards = {c["path"]: c["hash"] for c in package["methode"]["cartes"]}
    assert set(cards) == {"methode/carte-modele.md", "methode/carte-modele.json"}
    assert all(h == "sha256:" + sha256(out / p) for p, h in cards.items())
    card = json.loads((out / "methode/carte-modele.json").read_text(encoding="utf-8"))
    assert card["version_methode"] == METHOD_VERSION and card["jeu_etiquete"]["enregistrements"] >= 600


def test_supplier_of_unknown_contract_fails_package_validation(sample_tables, tmp_path):
    orphan = dict(sample_tables, marches=sample_tables["marches"].iloc[1:])
    with pytest.raises(PublicationError, match="foreign-key"):
        publish(orphan, tmp_path / "published", inputs=[])


def test_tampered_file_fails_package_validation(sample_tables, tmp_path):
    out = tmp_path / "published"
    publish(sample_tables, out, inputs=[])
    with (out / "data/marches.csv").open("a", encoding="utf-8") as handle:
        handle.write("\n")
    assert not validate(out / "datapackage.json").valid


def test_corrupted_table_fails_schema_validation(sample_tables, tmp_path):
    broken = sample_tables["marches"].copy()
    broken.loc[0, "procedure"] = "Procédure inventée"
    broken.loc[1, "uid"] = broken.loc[2, "uid"]
    path = tmp_path / "marches.csv"
    write_csv(broken, path, "marches")
    report = schemas.validate_csv(path, "marches")
    assert not report.valid
    assert any("procedure" in e for e in report.errors) and any("uid" in e for e in report.errors)


def test_failed_run_leaves_previous_publication_intact(sample_tables, tmp_path):
    out = tmp_path / "published"
    publish(sample_tables, out, inputs=[])
    (out / "README.md").write_text("kept\n", encoding="utf-8")
    before = _snapshot(out)
    broken = dict(sample_tables)
    bad = sample_tables["marches"].copy()
    bad.loc[0, "acheteur_categorie"] = "inconnue"  # outside the schema's enum: Frictionless must refuse it
    broken["marches"] = bad
    with pytest.raises(PublicationError, match="Frictionless"):
        publish(broken, out, inputs=[])
    assert _snapshot(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".published")]


def test_successful_run_replaces_and_keeps_readme(sample_tables, tmp_path):
    out = tmp_path / "published"
    publish(sample_tables, out, inputs=[])
    (out / "README.md").write_text("kept\n", encoding="utf-8")
    marches = sample_tables["marches"].head(3)
    titulaires = sample_tables["titulaires"][sample_tables["titulaires"]["uid"].isin(marches["uid"])]
    smaller = dict(sample_tables, marches=marches, titulaires=titulaires)
    publish(smaller, out, inputs=[])
    assert (out / "README.md").read_text(encoding="utf-8") == "kept\n"
    assert len(pd.read_csv(out / "data/marches.csv")) == 3


def test_refuses_to_replace_a_folder_that_is_not_a_publication(sample_tables, tmp_path):
    out = tmp_path / "home"
    out.mkdir()
    (out / "precious.txt").write_text("do not delete", encoding="utf-8")
    with pytest.raises(PublicationError, match="pas une publication"):
        publish(sample_tables, out, inputs=[])
    assert (out / "precious.txt").exists()


def test_unwritable_target_fails_cleanly(sample_tables, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(PublicationError):
        publish(sample_tables, blocker / "published", inputs=[])


def test_interrupted_swap_puts_the_old_publication_back(sample_tables, tmp_path, monkeypatch):
    import os as os_module

    from pipelines import publish as publish_module

    out = tmp_path / "published"
    publish(sample_tables, out, inputs=[])
    before = _snapshot(out)
    real_rename = os_module.rename
    calls = []

    def interrupted(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the staging folder moving in
            raise KeyboardInterrupt
        return real_rename(src, dst)

    monkeypatch.setattr(publish_module.os, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        publish(sample_tables, out, inputs=[])
    monkeypatch.setattr(publish_module.os, "rename", real_rename)
    assert _snapshot(out) == before


def test_next_run_recovers_a_publication_left_aside_by_a_killed_run(sample_tables, tmp_path):
    from pipelines.publish import recover

    out = tmp_path / "published"
    publish(sample_tables, out, inputs=[])
    before = _snapshot(out)
    os.rename(out, tmp_path / ".published.ancienne-deadbeef")  # what SIGKILL between the two renames leaves
    (tmp_path / ".published.en-cours-cafe0000").mkdir()
    recover(out)
    assert _snapshot(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".published")]
