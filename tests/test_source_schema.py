"""Raw DECP JSON records checked against the official JSON Schemas (pipelines/decp/source_schema.py).

Real samples are read in place (``real_data`` fixture, skipped when absent); the records made invalid on purpose
are built at test time from a real record, in tmp_path.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from pathlib import Path

import pytest

from pipelines import schemas
from pipelines.decp import source_schema
from pipelines.decp.ingest import ingest_rows
from pipelines.decp.readers import read_records

TODAY = dt.date(2026, 11, 26)
DIR_2024 = "decp/decp2022-json"
DIR_2019 = "decp/decp2019-json"
CODE = re.compile(r"^schema_[a-z_]+:[a-z0-9_]+$")
KINDS = set(source_schema.KINDS.values()) | {source_schema.OTHER_KIND}

# Codes the real samples must keep producing (snapshot: a renamed code breaks aggregation across runs).
EXPECTED_2024 = {
    "schema_champ_inconnu:_type",  # the platforms' extra key: benign
    "schema_nombre_elements:modifications",  # "modifications": []
    "schema_minimum:modifications_id",  # modification id 0
    "schema_longueur:id_accord_cadre",  # idAccordCadre over 16 characters
    "schema_champ_requis_absent:actes_sous_traitance_montant",  # incomplete subcontracting
}
EXPECTED_2019 = {
    "schema_type_invalide:montant",  # "12000.00"
    "schema_type_invalide:duree_mois",  # "12", and 12.0 (draft-04: not an integer)
    "schema_valeur_hors_liste:lieu_execution_type_code",  # "Code Postal"
    "schema_valeur_hors_liste:procedure",  # "Appel d offres ouvert"
    "schema_valeur_hors_liste:nature",  # AIFE upper case
    "schema_champ_requis_absent:lieu_execution_nom",
    "schema_motif_invalide:code_cpv",
    "schema_longueur:id",  # "id": "" (then rejected as identifiant_manquant)
    "schema_type_invalide:lieu_execution",  # semi-flattened: lieuExecution serialised as text
    "schema_valeur_hors_liste:titulaires_type_identifiant",  # "typeIdentifiant": ""
}


def _files(real_data: Path, folder: str) -> list[Path]:
    files = sorted((real_data / folder).glob("*.json"))
    assert files, f"no sample in {folder}"
    return files


def _count_records(path: Path) -> int:
    marches = json.loads(path.read_text(encoding="utf-8-sig"))["marches"]
    if isinstance(marches, list):
        return len(marches)
    return len(marches.get("marche") or []) + len(marches.get("contrat-concession") or [])


@pytest.fixture(scope="module")
def ingested(real_data):
    return {folder: ingest_rows(_files(real_data, folder), 10**9, TODAY) for folder in (DIR_2024, DIR_2019)}


def _codes(result) -> dict[str, int]:
    total: dict[str, int] = {}
    for report in result.fichiers:
        for code, count in report["schema_erreurs"].items():
            total[code] = total.get(code, 0) + count
    return total


# --- on the real samples ------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", [DIR_2024, DIR_2019])
def test_every_real_json_record_is_checked(real_data, ingested, folder):
    result = ingested[folder]
    by_name = {p.name: p for p in _files(real_data, folder)}
    for report in result.fichiers:
        path = by_name[Path(report["fichier"]).name]
        assert report["lus"] == _count_records(path)
        assert report["schema_verifies"] == report["lus"] and report["schema_non_verifies"] == 0
        assert report["lus"] == report["marches"] + report["concessions"] + report["rejetes"]
        assert 0 <= report["schema_non_conformes"] <= report["schema_verifies"]
        assert all(0 < n <= report["schema_non_conformes"] for n in report["schema_erreurs"].values())
        assert list(report["schema_erreurs"]) == sorted(report["schema_erreurs"])


@pytest.mark.parametrize(("folder", "expected"), [(DIR_2024, EXPECTED_2024), (DIR_2019, EXPECTED_2019)])
def test_codes_are_stable(ingested, folder, expected):
    codes = _codes(ingested[folder])
    assert expected <= set(codes), expected - set(codes)
    assert all(CODE.match(code) and code.split(":")[0] in KINDS for code in codes), codes


def test_2024_sample_matches_the_known_validation_result(ingested):
    """reference/decp.md §3: the real 2024 records fail only on `_type`, idAccordCadre, modifications and
    subcontracting, and about 87 % of them are valid (1,001 / 1,148 on the full set)."""
    result = ingested[DIR_2024]
    fields = {code.split(":")[1] for code in _codes(result)}
    assert all(f.startswith(("_type", "id_accord_cadre", "modifications", "actes_sous_traitance")) for f in fields)
    checked = sum(r["schema_verifies"] for r in result.fichiers)
    invalid = sum(r["schema_non_conformes"] for r in result.fichiers)
    assert checked > 900 and 0.80 < (checked - invalid) / checked < 0.95


@pytest.mark.parametrize("folder", [DIR_2024, DIR_2019])
def test_fast_path_gives_the_codes_of_jsonschema_on_the_whole_record(real_data, folder):
    seen = 0
    for path in _files(real_data, folder):
        for raw in read_records(path, 10**9):
            result = source_schema.check(raw)
            schema = source_schema.schema_for(raw.format_source, result.kind)
            assert result.codes == schema.reference_codes(raw.data), (path.name, raw.position)
            seen += 1
    assert seen > 100


def test_benign_records_are_kept_and_flagged(ingested):
    result = ingested[DIR_2024]
    assert not [r for r in result.rejets if r["motif"] == source_schema.SCHEMA_INVALIDE]
    flagged = [r for r in result.marches if "schema_champ_inconnu__type" in r["_anomalies"]]
    assert len(flagged) == _codes(result)["schema_champ_inconnu:_type"]  # every `_type` record is kept
    clean = [r for r in result.marches if not any(a.startswith("schema_") for a in r["_anomalies"])]
    assert len(clean) > len(flagged)
    # 2019: numbers as text are repaired by the normaliser and flagged twice (its code and the schema's)
    croix = [r for r in ingested[DIR_2019].marches if "schema_type_invalide_montant" in r["_anomalies"]]
    assert croix and all(r["montant"] is None or isinstance(r["montant"], float) for r in croix)
    assert any("montant_texte" in r["_anomalies"] for r in croix)


def test_real_identity_rejects_keep_their_motif_and_name_the_codes(ingested):
    rejets = [r for r in ingested[DIR_2019].rejets if r["fichier"].endswith("marches-securises__decp_21590163800019_"
                                                                             "2019-01-01_2021-12-31.json")]
    assert len(rejets) == 33 and {r["motif"] for r in rejets} == {"identifiant_manquant"}
    assert all("schema_longueur:id" in r["detail"] for r in rejets)


def test_row_anomalies_fit_the_published_pattern(ingested):
    anomalies = next(f for f in schemas.fields("marches") if f["name"] == "anomalies")
    pattern = re.compile(anomalies["constraints"]["pattern"])
    for result in ingested.values():
        for row in result.marches + result.concessions:
            joined = "|".join(sorted(row["_anomalies"]))
            assert not joined or pattern.fullmatch(joined), joined


def test_xml_and_csv_records_are_not_checked(real_data):
    files = [real_data / "decp/synthetic-examples/format-2024-v2/Marche.xml",
             real_data / "decp/synthetic-examples/format-2019-v1.5/paquet.xml",
             next((real_data / "decp/decpinfo-tabular-csv").glob("*.csv"))]
    result = ingest_rows(files, 10**9, TODAY)
    for report in result.fichiers:
        assert report["lus"] > 0 and report["schema_verifies"] == 0
        assert report["schema_non_verifies"] == report["lus"] and report["schema_erreurs"] == {}
    assert not any(a.startswith("schema_") for r in result.marches + result.concessions for a in r["_anomalies"])


def test_2019_concessions_are_checked_against_the_concession_definition(real_data):
    folder = real_data / "decp/synthetic-examples/format-2019-v1.5"
    result = ingest_rows([folder / "cc-basique.json", folder / "mar-basique.json"], 10**9, TODAY)
    assert [r["schema_verifies"] for r in result.fichiers] == [1, 1]
    assert [r["schema_erreurs"] for r in result.fichiers] == [{}, {}]  # official examples: valid
    assert len(result.concessions) == 1 and len(result.marches) == 1


# --- records made invalid on purpose -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def valid_2024(real_data) -> dict:
    """The first real 2024 contract record that the official schema accepts as is."""
    for path in _files(real_data, DIR_2024):
        for raw in read_records(path, 10**9):
            if raw.kind == "marche" and not source_schema.check(raw).codes:
                return raw.data
    pytest.fail("no valid 2024 record in the samples")


def _ingest_one(tmp_path: Path, record: object, fmt: str = "2024"):
    path = tmp_path / f"decp-{fmt}.json"
    document = {"marches": {"marche": [record]}} if fmt == "2024" else {"marches": [record]}
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    result = ingest_rows([path], 10**8, TODAY)
    report = result.fichiers[0]
    assert report["lus"] == 1 == report["marches"] + report["concessions"] + report["rejetes"]
    assert report["schema_verifies"] == 1
    return result, report


def _without(record: dict, *keys: str) -> dict:
    return {k: v for k, v in copy.deepcopy(record).items() if k not in keys}


def test_the_valid_record_stays_clean(tmp_path, valid_2024):
    result, report = _ingest_one(tmp_path, valid_2024)
    assert report["schema_erreurs"] == {} and report["schema_non_conformes"] == 0
    assert not any(a.startswith("schema_") for a in result.marches[0]["_anomalies"])


@pytest.mark.parametrize(("change", "codes", "motif"), [
    (lambda r: _without(r, "id"), {"schema_champ_requis_absent:id"}, "identifiant_manquant"),
    (lambda r: dict(r, id=""), {"schema_longueur:id"}, "identifiant_manquant"),
    (lambda r: _without(r, "acheteur"), {"schema_champ_requis_absent:acheteur"}, "acheteur_manquant"),
    (lambda r: dict(r, acheteur={"nom": "Mairie"}), {"schema_champ_requis_absent:acheteur_id"}, "acheteur_manquant"),
    (lambda r: dict(_without(r, "dateNotification", "modifications"), montant="abc"),
     {"schema_champ_requis_absent:date_notification", "schema_type_invalide:montant"}, "schema_invalide"),
    (lambda r: dict(_without(r, "modifications"), dateNotification="inconnue", montant=None),
     {"schema_motif_invalide:date_notification", "schema_type_invalide:montant"}, "schema_invalide"),
])
def test_unusable_records_are_rejected(tmp_path, valid_2024, change, codes, motif):
    result, report = _ingest_one(tmp_path, change(valid_2024))
    assert set(report["schema_erreurs"]) == codes and report["schema_non_conformes"] == 1
    assert report["rejetes"] == 1 and not result.marches
    rejet = result.rejets[0]
    assert rejet["motif"] == motif and rejet["position"] == 0
    assert all(code in rejet["detail"] for code in codes), rejet["detail"]
    assert len(rejet["detail"]) <= 500


@pytest.mark.parametrize(("change", "codes", "anomalies"), [
    (lambda r: dict(r, montant="abc"), {"schema_type_invalide:montant"}, {"montant_invalide"}),
    (lambda r: dict(r, montant="55 600,00"), {"schema_type_invalide:montant"}, {"montant_texte"}),
    (lambda r: dict(r, procedure="Partenariat d'innovation"), {"schema_valeur_hors_liste:procedure"},
     {"procedure_inconnue"}),
    (lambda r: dict(r, procedure="Appel d offres ouvert"), {"schema_valeur_hors_liste:procedure"},
     {"procedure_libelle_ancien"}),
    (lambda r: dict(r, _type="Marché"), {"schema_champ_inconnu:_type"}, set()),
    (lambda r: dict(r, dateNotification="29/06/2021"), {"schema_motif_invalide:date_notification"},
     {"date_format_fr"}),
    (lambda r: _without(r, "objet"), {"schema_champ_requis_absent:objet"}, set()),
    (lambda r: _without(r, "montant"), {"schema_champ_requis_absent:montant"}, set()),  # the date is enough
    # no date and no initial amount, but the modifications give the current amount: still usable
    (lambda r: dict(_without(r, "dateNotification", "montant"), modifications=[{"modification": {
        "id": 1, "dateNotificationModification": "2024-02-01", "datePublicationDonneesModification": "2024-02-03",
        "montant": 60000}}]),
     {"schema_champ_requis_absent:date_notification", "schema_champ_requis_absent:montant"}, set()),
    (lambda r: dict(r, modifications=[]), {"schema_nombre_elements:modifications"}, set()),
    (lambda r: dict(r, acheteur={"id": "5565503250003"}), {"schema_motif_invalide:acheteur_id"},
     {"acheteur_siret_invalide"}),
    (lambda r: dict(r, id="X" * 20), {"schema_longueur:id"}, set()),
    # same code as the 2019 records with the same defect: the 2024 wrapper `titulaire` is left out
    (lambda r: dict(r, titulaires=[{"titulaire": {"typeIdentifiant": "Siret", "id": "79466656000022"}}]),
     {"schema_valeur_hors_liste:titulaires_type_identifiant"}, set()),
    (lambda r: dict(r, titulaires=[{"typeIdentifiant": "SIRET", "id": "79466656000022"}]),
     {"schema_champ_requis_absent:titulaires_titulaire"}, set()),
])
def test_benign_errors_keep_the_record_and_flag_it(tmp_path, valid_2024, change, codes, anomalies):
    result, report = _ingest_one(tmp_path, change(valid_2024))
    assert set(report["schema_erreurs"]) == codes and not result.rejets
    row = result.marches[0]
    expected = {source_schema.anomaly_code(c) for c in codes} | anomalies
    assert expected <= row["_anomalies"], row["_anomalies"]


def test_the_draft_of_each_format_is_used(tmp_path, valid_2024):
    """dureeMois 12.0: an integer for draft-07 (2024), not for draft-04 (2019)."""
    _, report = _ingest_one(tmp_path, dict(valid_2024, dureeMois=12.0))
    assert report["schema_erreurs"] == {}
    record_2019 = {"id": "2019000101", "acheteur": {"id": "21590163800019", "nom": "Ville de Croix"},
                   "nature": "Marché", "objet": "Entretien", "codeCPV": "77313000", "procedure": "Procédure adaptée",
                   "lieuExecution": {"code": "59170", "typeCode": "Code postal", "nom": "Croix"},
                   "dureeMois": 12, "dateNotification": "2019-02-01", "datePublicationDonnees": "2019-02-10",
                   "montant": 50000, "formePrix": "Ferme",
                   "titulaires": [{"typeIdentifiant": "SIRET", "id": "81223113200026", "denominationSociale": "X"}],
                   "modifications": []}
    _, report = _ingest_one(tmp_path, record_2019, fmt="2019")
    assert report["schema_erreurs"] == {}
    result, report = _ingest_one(tmp_path, dict(record_2019, dureeMois=12.0), fmt="2019")
    assert report["schema_erreurs"] == {"schema_type_invalide:duree_mois": 1}
    assert result.marches[0]["duree_mois"] == 12


def test_odd_records(tmp_path, valid_2024):
    result, report = _ingest_one(tmp_path, ["pas", "un", "objet"])
    assert report["schema_erreurs"] == {"schema_type_invalide:enregistrement": 1}
    assert result.rejets[0]["motif"] == "enregistrement_non_objet"
    many = dict(valid_2024, **{f"extraCle{i:02d}": i for i in range(15)})
    result, report = _ingest_one(tmp_path, many)
    codes = set(report["schema_erreurs"])
    assert len(codes) == source_schema.MAX_UNKNOWN_KEYS + 1 and "schema_champ_inconnu:autres" in codes
    assert "schema_champ_inconnu:extra_cle00" in codes and result.marches


def test_codes_and_their_row_spelling():
    assert source_schema.snake("codeCPV") == "code_cpv"
    assert source_schema.snake("datePublicationDonnees") == "date_publication_donnees"
    assert source_schema.snake("_type") == "_type" and source_schema.snake("nom ") == "nom"
    # 2024 list wrappers left out, so that 2019 and 2024 give the same code
    assert source_schema.field_of(["modifications", 3, "modification", "id"]) == "modifications_id"
    assert source_schema.field_of(["titulaires", 0, "titulaire", "typeIdentifiant"]) == "titulaires_type_identifiant"
    assert source_schema.field_of(["titulaires", 0, "typeIdentifiant"]) == "titulaires_type_identifiant"
    assert source_schema.field_of(["techniques", "technique", 1]) == "techniques"
    assert source_schema.make_code("required", ["titulaires", 0, "titulaire"]) == (
        "schema_champ_requis_absent:titulaires_titulaire")  # the missing wrapper itself is named
    assert source_schema.make_code("required", ["titulaire"]) == "schema_champ_requis_absent:titulaire"
    assert source_schema.field_of([]) == "enregistrement"
    assert source_schema.make_code("maxLength", ["idAccordCadre"]) == "schema_longueur:id_accord_cadre"
    assert source_schema.make_code("somethingNew", ["x"]) == "schema_contrainte:x"
    assert source_schema.anomaly_code("schema_champ_inconnu:_type") == "schema_champ_inconnu__type"
    assert source_schema.make_code("additionalProperties", ["Clé étrange !"]) == "schema_champ_inconnu:cle_etrange_"


def test_schema_files_are_the_official_ones():
    for name, version in source_schema.SCHEMA_FILES.values():
        document = json.loads((source_schema.SCHEMA_DIR / name).read_text(encoding="utf-8"))
        assert {"marche", "contrat-concession"} <= set(document["definitions"])
        assert version in name
    assert source_schema.SCHEMAS[("decp-2024", "marche")].draft.startswith("http://json-schema.org/draft-07")
    assert source_schema.SCHEMAS[("decp-2019", "marche")].draft.startswith("http://json-schema.org/draft-04")
    readme = (source_schema.SCHEMA_DIR / "README.md").read_text(encoding="utf-8")
    assert "139bercy/format-commande-publique" in readme and "2.0.3" in readme and "1.5.0" in readme
    motif = next(f for f in schemas.fields("rejets") if f["name"] == "motif")
    assert source_schema.SCHEMA_INVALIDE in motif["constraints"]["enum"]


def test_memo_keys_kept_hold_their_length_only():
    """orjson.dumps hands its text back in a buffer of 4 KB or more: a memo of a hundred thousand supplier lists
    would hold 400 MB. Keys are kept as copies of their length, equal to the originals."""
    import tracemalloc

    import orjson

    values = [{"titulaire": {"typeIdentifiant": "SIRET", "id": f"{i:014d}"}} for i in range(500)]
    tracemalloc.start()
    try:
        kept = [source_schema.kept_key(orjson.dumps(value)) for value in values]
        kept.append(source_schema.kept_key(("titulaires", orjson.dumps(values[0]))))
        size = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert kept[:-1] == [orjson.dumps(value) for value in values]
    assert kept[-1] == ("titulaires", orjson.dumps(values[0]))
    assert size < 500 * 200  # about 100 bytes a key, not 4 KB
