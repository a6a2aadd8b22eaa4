"""Regular contracts read as columns (pipelines/decp/regular.py) give what the record-by-record path gives.

Each file is read twice by the reading worker's own function (file_cache._read): with the columnar lane, then with
every record read one by one (the reference). Contracts (columns and suppliers), concessions, rejets, the file's
report and the dates judged must be identical, on the real samples, on generated corpora with their messy records,
and on records made to sit just outside what the lane takes.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipelines.decp import file_cache, ingest, regular, whole_json
from pipelines.decp.ingest import InputFile, expand_inputs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import generate_decp  # noqa: E402

TODAY = dt.date(2026, 11, 27)


def _read(item: InputFile, lane: bool, monkeypatch) -> file_cache.Entry:
    monkeypatch.setattr(regular, "ENABLED", lane)
    return file_cache._read((item, 0, 10**10, TODAY))


def _regular_count(item: InputFile) -> int:
    return sum(len(block) for block in ingest.ingest_file(item, 0, 10**10, TODAY, columns=True).blocks)


def _assert_same(item: InputFile, monkeypatch) -> int:
    """Both paths give the same entry; returns how many contracts the lane took."""
    reference, columnar = _read(item, False, monkeypatch), _read(item, True, monkeypatch)
    pd.testing.assert_frame_equal(columnar.read.marches.frame, reference.read.marches.frame, check_exact=True)
    pd.testing.assert_frame_equal(columnar.read.marches.links, reference.read.marches.links, check_exact=True)
    for name in ("concessions", "avis", "rejets", "fichiers"):
        assert getattr(columnar.read, name) == getattr(reference.read, name), name
    assert (columnar.dates.latest_kept, columnar.dates.earliest_refused) == \
        (reference.dates.latest_kept, reference.dates.earliest_refused)
    monkeypatch.setattr(regular, "ENABLED", True)
    return _regular_count(item)


def test_real_samples_read_the_same(real_data, monkeypatch):
    items = [item for item in expand_inputs([real_data / "decp"]) if item.path.suffix == ".json"
             and "reference-schemas" not in item.path.parts]
    assert len(items) >= 10
    taken = sum(_assert_same(item, monkeypatch) for item in items)
    assert taken > 0  # the lane did read some real contracts


@pytest.mark.parametrize("fmt", ["2024", "2019"])
def test_generated_corpus_reads_the_same(tmp_path, monkeypatch, fmt):
    files = generate_decp.generate(3000, 7, fmt, tmp_path / fmt, per_file=1500)
    taken = [_assert_same(InputFile(path, path.name), monkeypatch) for path in files]
    assert all(count > 1000 for count in taken)  # most generated contracts are regular


def test_blocks_and_streamed_files_read_the_same(tmp_path, monkeypatch):
    files = generate_decp.generate(1200, 3, "mixed", tmp_path / "corpus", per_file=600)
    monkeypatch.setattr(ingest, "BLOCK_RECORDS", 7)  # many blocks per file, and a last one cut short
    for path in files:
        assert _assert_same(InputFile(path, path.name), monkeypatch) > 400
    monkeypatch.setattr(whole_json, "WHOLE_JSON_MAX_BYTES", 1000)  # streamed by ijson instead of parsed whole
    for path in files:
        assert _assert_same(InputFile(path, path.name), monkeypatch) > 400


def _regular_2024() -> dict:
    return {
        "id": "2025AB0001", "acheteur": {"id": "21750001600019"}, "nature": "Marché",
        "objet": "Maintenance des ascenseurs des bâtiments communaux", "codeCPV": "50750000-7",
        "techniques": {"technique": ["Sans objet"]}, "modalitesExecution": {"modaliteExecution": ["Tranches"]},
        "marcheInnovant": False, "ccag": "Travaux", "offresRecues": 3, "attributionAvance": False,
        "typeGroupementOperateurs": "Pas de groupement", "procedure": "Procédure adaptée",
        "lieuExecution": {"code": "75056", "typeCode": "Code commune"}, "dureeMois": 24,
        "dateNotification": "2025-03-04", "datePublicationDonnees": "2025-03-10", "montant": 120000.5,
        "typesPrix": {"typePrix": ["Définitif ferme"]}, "formePrix": "Forfaitaire", "sousTraitanceDeclaree": False,
        "titulaires": [{"titulaire": {"typeIdentifiant": "SIRET", "id": "44306184100047"}}],
        "considerationsSociales": {"considerationSociale": ["Pas de considération sociale"]},
        "considerationsEnvironnementales": {
            "considerationEnvironnementale": ["Pas de considération environnementale"]},
    }


def _modification(number: int, **fields) -> dict:
    return {"modification": {"id": number, "dateNotificationModification": f"2025-0{5 + number}-01",
                             "datePublicationDonneesModification": f"2025-0{5 + number}-03", **fields}}


def _variants() -> list[dict]:
    """Regular records and records just outside the lane (each must come out as the record path makes it)."""
    base = _regular_2024()
    changes = [
        {}, {"_type": "Marché"}, {"_type": "Marché", "autre": 1}, {"objet ": "clé paddée"},
        {"montant": "12 000,50"},
        {"montant": 0}, {"montant": 1e12}, {"montant": 12000}, {"montant": True}, {"id": 2025001},
        {"id": "  AB  12 "}, {"id": ""}, {"id": "x" * 17}, {"acheteur": {"id": "217 500 016 00019"}},
        {"acheteur": {"id": "2175000160001"}}, {"acheteur": {}}, {"acheteur": "21750001600019"},
        {"titulaires": []}, {"titulaires": [{"titulaire": {"typeIdentifiant": "SIRET", "id": "44306184100047"}},
                                            {"titulaire": {"typeIdentifiant": "TVA", "id": "FR12443061841"}}]},
        {"titulaires": [{"titulaire": {"id": "1"}}, {"titulaire": {"id": "1"}}]},
        {"modifications": []}, {"modifications": [{"modification": {"id": 1, "montant": 130000.0,
                                                                    "dateNotificationModification": "2025-06-01"}}]},
        {"modifications": [_modification(2, montant=150000.0, dureeMois=30), _modification(1, montant=140000.0)]},
        {"modifications": [_modification(1, titulaires=[
            {"titulaire": {"typeIdentifiant": "SIRET", "id": "55210055400013"}}])]},
        {"modifications": [dict(_modification(1, montant=131000.0), note="clé en plus")]},
        {"modifications": [_modification(1, montant="131 000,00")]}, {"modifications": [_modification(1)]},
        {"modifications": [_modification(1, dateNotificationModification="2099-12-31")]},
        {"modifications": [_modification(1, dureeMois=900)]},
        {"dateNotification": "2025-03-04T10:00:00+01:00"}, {"dateNotification": "04/03/2025"},
        {"dateNotification": "2099-01-01"}, {"dateNotification": "1990-01-01"}, {"datePublicationDonnees": None},
        {"nature": "MARCHÉ"}, {"nature": "Accord-cadre"}, {"procedure": "Procédure négociée"},
        {"techniques": {"technique": ["Accord-cadre", "Accord-cadre"]}}, {"typesPrix": {"typePrix": ["Ferme"]}},
        {"formePrix": "forfaitaire"}, {"ccag": "NC"}, {"offresRecues": 0}, {"offresRecues": 2.0},
        {"offresRecues": "4"}, {"dureeMois": 700}, {"dureeMois": 1.5}, {"marcheInnovant": "oui"},
        {"codeCPV": "50750000"}, {"codeCPV": "5075"},
        {"lieuExecution": {"code": "75", "typeCode": "code département"}},
        {"lieuExecution": "75056"}, {"idAccordCadre": "AC-2024-01"}, {"objet": "a\tb  c"}, {"objet": ""},
        {"objet": "x" * 1001}, {"objet": None}, {"tauxAvance": 0.1}, {"montant": 2**70}, {"tauxAvance": 2**70},
        {"considerationsSociales": {"considerationSociale": ["Clause sociale"]}, "procedure": "Appel d'offres ouvert"},
    ]
    records = []
    for number, change in enumerate(changes):
        record = copy.deepcopy(base)
        record.update(change)
        if "id" not in change:
            record["id"] = f"2025AB{number:04d}"
        records.append(record)
    missing = copy.deepcopy(base)
    del missing["ccag"]
    records.append(missing)
    reordered = dict(reversed(list(copy.deepcopy(base).items())))
    reordered["id"] = "2025ZZ0001"
    records.append(reordered)
    return records


def test_records_at_the_edges_read_the_same(tmp_path, monkeypatch):
    records = _variants()
    path = tmp_path / "edges-2024.json"
    path.write_text(json.dumps({"marches": {"marche": records * 2}}, ensure_ascii=False), encoding="utf-8")
    taken = _assert_same(InputFile(path, path.name), monkeypatch)
    assert 0 < taken < 2 * len(records)
    old = []
    for record in records:
        record = copy.deepcopy(record)
        for key in ("techniques", "modalitesExecution", "marcheInnovant", "ccag", "offresRecues", "attributionAvance",
                    "typeGroupementOperateurs", "typesPrix", "sousTraitanceDeclaree", "considerationsSociales",
                    "considerationsEnvironnementales", "tauxAvance"):
            record.pop(key, None)
        record["titulaires"] = [dict(t.get("titulaire", t), denominationSociale="Ascenseurs SA")
                                if isinstance(t, dict) else t for t in record.get("titulaires", [])]
        record["modifications"] = [dict(m["modification"], objetModification="Avenant") if isinstance(m, dict)
                                   and isinstance(m.get("modification"), dict) else m
                                   for m in record.get("modifications", [])]
        record["lieuExecution"] = {"code": "75056", "typeCode": "Code commune", "nom": "Paris"}
        if isinstance(record.get("acheteur"), dict) and record["acheteur"]:
            record["acheteur"] = dict(record["acheteur"], nom="Ville de Paris")
        record["formePrix"] = {"Forfaitaire": "Ferme"}.get(record["formePrix"], record["formePrix"])
        old.append(record)
    old.append(dict(old[0], id="C1", _type="Contrat de concession"))
    old.append(dict(old[0], id="C2", nature="Délégation de service public"))
    path = tmp_path / "edges-2019.json"
    path.write_text(json.dumps({"marches": old}, ensure_ascii=False), encoding="utf-8")
    taken = _assert_same(InputFile(path, path.name), monkeypatch)
    assert 0 < taken < len(old)
