"""File-level behaviour of ingestion: what is read, how files are named, and nothing lost on odd input."""

import json
import os

import pytest

from pipelines.decp import ingest as ingest_module
from pipelines.decp.ingest import expand_inputs, ingest_files

RECORD = {"id": "A1", "acheteur": {"id": "21590163800019"}, "objet": "Entretien", "montant": 1000,
          "dateNotification": "2024-01-10"}


def _decp(path, *records):
    path.write_text(json.dumps({"marches": {"marche": list(records)}}), encoding="utf-8")
    return path


def test_folders_skip_hidden_entries_and_the_output_folder(tmp_path):
    data = tmp_path / "entrees"
    (data / "sous").mkdir(parents=True)
    (data / ".git").mkdir()
    (data / "published" / "data").mkdir(parents=True)
    _decp(data / "a.json", RECORD)
    _decp(data / "sous" / "b.json", RECORD)
    _decp(data / ".git" / "c.json", RECORD)
    _decp(data / "published" / "data" / "d.json", RECORD)
    names = [f.name for f in expand_inputs([data], exclude=[data / "published"])]
    assert names == ["entrees/a.json", "entrees/sous/b.json"]


def test_published_names_are_relative_not_the_operators_paths(tmp_path):
    path = _decp(tmp_path / "a.json", RECORD)
    result = ingest_files([path], 10**8)
    assert result.fichiers[0]["fichier"] == "a.json"
    assert str(tmp_path) not in json.dumps(result.fichiers)


@pytest.mark.skipif(os.name != "posix", reason="bytes file names are a POSIX matter")
def test_file_name_that_is_not_utf8(tmp_path):
    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.json")
    with open(raw, "w", encoding="utf-8") as handle:
        handle.write("pas du json")
    result = ingest_files([tmp_path], 10**8)
    name = result.rejets[0]["fichier"]
    name.encode("utf-8")  # publishable
    assert "caf" in name and result.rejets[0]["motif"] == "format_non_reconnu"


def test_unexpected_error_on_one_record_rejects_that_record_only(tmp_path, monkeypatch):
    original = ingest_module.normalize_marche

    def fragile(record, today, textual=False):
        if record["id"] == "BOOM":
            raise ZeroDivisionError("division by zero")
        return original(record, today, textual)

    monkeypatch.setattr(ingest_module, "normalize_marche", fragile)
    path = _decp(tmp_path / "a.json", RECORD, dict(RECORD, id="BOOM"), dict(RECORD, id="A2"))
    result = ingest_files([path], 10**8)
    assert list(result.marches.frame["id"]) == ["A1", "A2"]
    assert [(r["motif"], r["position"]) for r in result.rejets] == [("enregistrement_invalide", 1)]
    assert "ZeroDivisionError" in result.rejets[0]["detail"]


def test_unexpected_error_on_a_file_lists_the_file(tmp_path, monkeypatch):
    def broken(path, max_bytes):
        raise RuntimeError("lecteur en panne")
        yield  # pragma: no cover

    monkeypatch.setattr(ingest_module, "read_records", broken)
    _decp(tmp_path / "a.json", RECORD)
    _decp(tmp_path / "b.json", RECORD)
    result = ingest_files([tmp_path], 10**8)
    assert [(r["fichier"], r["motif"]) for r in result.rejets] == [
        (f"{tmp_path.name}/a.json", "fichier_illisible"), (f"{tmp_path.name}/b.json", "fichier_illisible")]
