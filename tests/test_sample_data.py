"""Checks on the fictitious offline-demo sample shipped in pipelines/sample_data/.

* every 2024-format marché / concession validates against the official JSON Schema v2.0.3
  (only tolerated deviation: the non-schema key ``_type`` that real platforms add);
* the 2019 file validates against marches v1.5.0, except for the deliberate "messy" touches listed below;
* the XML is well-formed, rooted at ``<marches>`` (and valid against the official XSD v2.0.2);
* every SIRET passes the Luhn check; buyers have a public-sector SIREN prefix;
* uids (acheteur.id + id) collide only for the intended republications;
* the README says the sample is fictitious and every uid it cites exists.

Official schemas are read in place from the ``real_data`` fixture (never copied into the repo).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft4Validator, Draft7Validator
from lxml import etree

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO_ROOT / "pipelines" / "sample_data"
FILE_2024_MARCH = SAMPLE_DIR / "decp-2024-demo-2025-03.json"
FILE_2024_APRIL = SAMPLE_DIR / "decp-2024-demo-2025-04.json"
FILE_2019 = SAMPLE_DIR / "decp-2019-demo-2023.json"
FILE_XML = SAMPLE_DIR / "decp-2024-demo.xml"
README = SAMPLE_DIR / "README.md"

SCHEMA_V2 = "decp/reference-schemas/format-commande-publique__schema_decp_v2.0.3.json"
SCHEMA_V15 = "decp/reference-schemas/format-commande-publique__marches_v1.5.0.json"
XSD_V2 = "decp/reference-schemas/format-commande-publique__schema_decp_v2.0.2.xsd"

# Contracts of the March file republished in the April file (same acheteur.id + id, one more modification).
EXPECTED_REPUBLISHED = {
    ("10000001700010", "2024-DIFN-0007"),
    ("10000002500013", "24MTE0051"),
    ("19000001800019", "2024U0158"),
    ("26000001300011", "24CH0031"),
    ("21000002200017", "SFB-2024-07"),
}

# Deliberate deviations from schema v1.5.0 in the 2019 file, as found in real 2019 data:
# (record id, JSON path of the offending value, failing JSON-Schema keyword).
EXPECTED_2019_DEVIATIONS = {
    ("2019MTE03100", "$.nature", "enum"),  # upper-case AIFE vocabulary "ACCORD-CADRE"
    ("2021000007400", "$.montant", "type"),  # amount as a string "45000.00"
    ("2020SFB00300", "$.lieuExecution.typeCode", "enum"),  # "Code Postal" (capital P)
    ("2019SFB00100", "$.procedure", "enum"),  # v1.4 label "Procédure négociée avec mise en concurrence préalable"
}


def _load(path: Path):
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def _marches_2024(path: Path) -> list[dict]:
    return _load(path)["marches"].get("marche", [])


def _concessions_2024(path: Path) -> list[dict]:
    return _load(path)["marches"].get("contrat-concession", [])


def _uid(rec: dict) -> tuple[str, str]:
    buyer = rec.get("acheteur") or rec.get("autoriteConcedante")
    return buyer["id"], rec["id"]


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _sub_validator(cls, schema: dict, definition: str):
    # "$ref" siblings are ignored in draft-04/07, so this keeps "definitions" (and "$id") for resolution.
    return cls({**schema, "$ref": f"#/definitions/{definition}"})


def _errors(validator, instance) -> list:
    return sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))


def _is_tolerated_type_key(err, rec: dict) -> bool:
    """The only tolerated v2 error: additionalProperties caused by `_type: "Marché"` alone, at record level."""
    if err.validator != "additionalProperties" or list(err.absolute_path):
        return False
    extra = set(rec) - set(err.schema.get("properties", {}))
    return extra == {"_type"} and rec["_type"] == "Marché"


# --------------------------------------------------------------------------- files exist / deterministic encoding
@pytest.mark.parametrize("path", [FILE_2024_MARCH, FILE_2024_APRIL, FILE_2019, FILE_XML, README])
def test_files_exist_utf8(path: Path):
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), "no BOM"
    raw.decode("utf-8")
    assert raw.endswith(b"\n")


@pytest.mark.parametrize("path", [FILE_2024_MARCH, FILE_2024_APRIL, FILE_2019])
def test_json_is_pretty_printed(path: Path):
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), ensure_ascii=False, indent=2) + "\n"


def test_counts():
    assert 40 <= len(_marches_2024(FILE_2024_MARCH)) <= 50
    assert len(_concessions_2024(FILE_2024_MARCH)) == 2
    assert 10 <= len(_marches_2024(FILE_2024_APRIL)) <= 14
    recs19 = _load(FILE_2019)["marches"]
    assert 24 <= sum(1 for r in recs19 if r.get("_type") != "Contrat de concession") <= 28
    assert sum(1 for r in recs19 if r.get("_type") == "Contrat de concession") == 1
    root = etree.parse(str(FILE_XML)).getroot()
    assert len(root.findall("marche")) == 8


# --------------------------------------------------------------------------- JSON Schema validation
@pytest.mark.parametrize("path", [FILE_2024_MARCH, FILE_2024_APRIL], ids=lambda p: p.name)
def test_2024_records_valid_against_v2_0_3(real_data: Path, path: Path):
    schema = _load(real_data / SCHEMA_V2)
    v_marche = _sub_validator(Draft7Validator, schema, "marche")
    v_conc = _sub_validator(Draft7Validator, schema, "contrat-concession")
    problems = []
    for rec in _marches_2024(path):
        for err in _errors(v_marche, rec):
            if not _is_tolerated_type_key(err, rec):
                problems.append((rec["id"], err.json_path, err.message[:200]))
    for rec in _concessions_2024(path):
        for err in _errors(v_conc, rec):
            problems.append((rec["id"], err.json_path, err.message[:200]))
    assert problems == []


@pytest.mark.parametrize("path", [FILE_2024_MARCH, FILE_2024_APRIL], ids=lambda p: p.name)
def test_2024_whole_file_valid_once_type_key_removed(real_data: Path, path: Path):
    schema = _load(real_data / SCHEMA_V2)
    doc = copy.deepcopy(_load(path))
    n_type = 0
    for rec in doc["marches"].get("marche", []):
        if rec.pop("_type", None) is not None:
            n_type += 1
    if not doc["marches"].get("contrat-concession"):
        doc["marches"].pop("contrat-concession", None)
    assert [e.message for e in Draft7Validator(schema).iter_errors(doc)] == []
    # "a few" records carry the platform key, not all of them
    assert 0 < n_type < len(doc["marches"]["marche"]) / 2


def test_2019_valid_against_v1_5_except_listed_messy_touches(real_data: Path):
    schema = _load(real_data / SCHEMA_V15)
    v_marche = _sub_validator(Draft4Validator, schema, "marche")
    v_conc = _sub_validator(Draft4Validator, schema, "contrat-concession")
    found = set()
    for rec in _load(FILE_2019)["marches"]:
        validator = v_conc if rec.get("_type") == "Contrat de concession" else v_marche
        for err in _errors(validator, rec):
            found.add((rec["id"], err.json_path, err.validator))
    assert found == EXPECTED_2019_DEVIATIONS


def test_2019_messy_values_are_the_intended_ones():
    by_id = {r["id"]: r for r in _load(FILE_2019)["marches"]}
    assert by_id["2019MTE03100"]["nature"] == "ACCORD-CADRE"
    assert by_id["2021000007400"]["montant"] == "45000.00"
    assert by_id["2020SFB00300"]["lieuExecution"]["typeCode"] == "Code Postal"
    assert by_id["2019SFB00100"]["procedure"] == "Procédure négociée avec mise en concurrence préalable"


def test_2019_dates_in_range():
    for rec in _load(FILE_2019)["marches"]:
        date = rec.get("dateNotification") or rec.get("dateSignature")
        assert "2019-01-01" <= date <= "2023-12-31", rec["id"]


def test_2024_notifications_span_2024_and_2025():
    years = {r["dateNotification"][:4] for p in (FILE_2024_MARCH, FILE_2024_APRIL) for r in _marches_2024(p)}
    assert years == {"2024", "2025"}


# --------------------------------------------------------------------------- XML
def test_xml_well_formed_and_rooted_at_marches():
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.parse(str(FILE_XML), parser).getroot()
    assert root.tag == "marches"
    assert {child.tag for child in root} == {"marche"}
    innov = [m.findtext("marcheInnovant") for m in root.iter("marche")]
    assert innov.count("oui") == 1
    assert "0" in innov and "1" not in innov  # the 1/0 variant is a non-innovative contract
    bool_values = {el.text for tag in ("marcheInnovant", "attributionAvance", "sousTraitanceDeclaree")
                   for el in root.iter(tag)}
    assert bool_values <= {"oui", "non", "0", "1"}
    assert {"0", "1"} <= bool_values


def test_xml_valid_against_official_xsd(real_data: Path):
    xsd = etree.XMLSchema(etree.parse(str(real_data / XSD_V2)))
    doc = etree.parse(str(FILE_XML))
    assert xsd.validate(doc), [str(e) for e in xsd.error_log]


# --------------------------------------------------------------------------- identifiers
def _all_identifiers():
    """Yield (role, typeIdentifiant, id) for every buyer/supplier identifier in every file."""
    for path in (FILE_2024_MARCH, FILE_2024_APRIL):
        doc = _load(path)["marches"]
        for rec in doc.get("marche", []):
            yield "acheteur", "SIRET", rec["acheteur"]["id"]
            for t in rec["titulaires"]:
                yield "titulaire", t["titulaire"]["typeIdentifiant"], t["titulaire"]["id"]
            for m in rec.get("modifications", []):
                for t in m["modification"].get("titulaires", []):
                    yield "titulaire", t["titulaire"]["typeIdentifiant"], t["titulaire"]["id"]
            for a in rec.get("actesSousTraitance", []):
                st = a["acteSousTraitance"]["sousTraitant"]
                yield "sous-traitant", st["typeIdentifiant"], st["id"]
        for rec in doc.get("contrat-concession", []):
            yield "acheteur", "SIRET", rec["autoriteConcedante"]["id"]
            for c in rec["concessionnaires"]:
                yield "titulaire", c["concessionnaire"]["typeIdentifiant"], c["concessionnaire"]["id"]
    for rec in _load(FILE_2019)["marches"]:
        buyer = rec.get("acheteur") or rec["autoriteConcedante"]
        yield "acheteur", "SIRET", buyer["id"]
        for t in rec.get("titulaires", []) + rec.get("concessionnaires", []):
            yield "titulaire", t["typeIdentifiant"], t["id"]
        for m in rec.get("modifications", []):
            for t in m.get("titulaires", []):
                yield "titulaire", t["typeIdentifiant"], t["id"]
    root = etree.parse(str(FILE_XML)).getroot()
    for m in root.iter("marche"):
        yield "acheteur", "SIRET", m.findtext("acheteur/id")
        for t in m.iter("titulaire"):
            yield "titulaire", t.findtext("typeIdentifiant"), t.findtext("id")


def test_every_siret_passes_luhn():
    ids = list(_all_identifiers())
    sirets = [i for _, typ, i in ids if typ == "SIRET"]
    assert len(sirets) > 80
    bad = sorted({s for s in sirets if not (re.fullmatch(r"\d{14}", s) and luhn_ok(s) and luhn_ok(s[:9]))})
    assert bad == []


def test_buyers_have_public_sector_siren_prefix():
    # 1x State and its operators, 2x local authorities / hospitals (26x); no private-company prefixes
    buyers = {i for role, _, i in _all_identifiers() if role == "acheteur"}
    assert buyers and all(b[0] in "12" for b in buyers), sorted(buyers)
    assert any(b.startswith("26") for b in buyers)  # hospitals
    assert any(b.startswith("1") for b in buyers)  # State


def test_suppliers_are_never_buyers():
    ids = list(_all_identifiers())
    buyers = {i for role, _, i in ids if role == "acheteur"}
    suppliers = {i for role, _, i in ids if role != "acheteur"}
    assert not buyers & suppliers


def test_non_siret_identifiers_are_the_fictitious_vat_number():
    others = {(typ, i) for _, typ, i in _all_identifiers() if typ != "SIRET"}
    assert others == {("TVA", "LU99999984")}
    assert int("999999") % 89 == 84  # Luxembourg VAT check (last two digits = first six mod 89)


# --------------------------------------------------------------------------- uids / deduplication
def test_uids_unique_within_each_file():
    for path in (FILE_2024_MARCH, FILE_2024_APRIL):
        uids = [_uid(r) for r in _marches_2024(path)] + [_uid(r) for r in _concessions_2024(path)]
        assert len(uids) == len(set(uids)), path.name
    uids19 = [_uid(r) for r in _load(FILE_2019)["marches"]]
    assert len(uids19) == len(set(uids19))
    root = etree.parse(str(FILE_XML)).getroot()
    uids_xml = [(m.findtext("acheteur/id"), m.findtext("id")) for m in root.iter("marche")]
    assert len(uids_xml) == len(set(uids_xml))


def test_uids_collide_only_for_intended_republications():
    sets = {
        "2024-03": {_uid(r) for r in _marches_2024(FILE_2024_MARCH)} | {_uid(r) for r in _concessions_2024(FILE_2024_MARCH)},
        "2024-04": {_uid(r) for r in _marches_2024(FILE_2024_APRIL)},
        "2019": {_uid(r) for r in _load(FILE_2019)["marches"]},
        "xml": {(m.findtext("acheteur/id"), m.findtext("id")) for m in etree.parse(str(FILE_XML)).getroot().iter("marche")},
    }
    names = list(sets)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            common = sets[a] & sets[b]
            expected = EXPECTED_REPUBLISHED if {a, b} == {"2024-03", "2024-04"} else set()
            assert common == expected, (a, b, sorted(common))


def test_republications_add_exactly_one_modification():
    march = {_uid(r): r for r in _marches_2024(FILE_2024_MARCH)}
    april = {_uid(r): r for r in _marches_2024(FILE_2024_APRIL)}
    for uid in EXPECTED_REPUBLISHED:
        old, new = copy.deepcopy(march[uid]), copy.deepcopy(april[uid])
        old_mods, new_mods = old.pop("modifications", []), new.pop("modifications", [])
        assert old == new, uid  # initial data never changes, datePublicationDonnees included
        assert new_mods[:-1] == old_mods, uid
        assert len(new_mods) == len(old_mods) + 1
        ids = [m["modification"]["id"] for m in new_mods]
        assert ids == list(range(1, len(ids) + 1)), uid
        assert new_mods[-1]["modification"]["datePublicationDonneesModification"] >= "2025-04-01"


def test_2019_modified_contract_reappears_with_new_id_suffix():
    by_id = {r["id"]: r for r in _load(FILE_2019)["marches"]}
    initial, modified = by_id["201900002100"], by_id["201900002101"]
    assert initial["modifications"] == [] and len(modified["modifications"]) == 1
    assert {k: v for k, v in initial.items() if k not in ("id", "modifications")} == {
        k: v for k, v in modified.items() if k not in ("id", "modifications")
    }


# --------------------------------------------------------------------------- designed signals
def test_designed_innovative_records_have_their_structural_signals():
    recs = {_uid(r): r for p in (FILE_2024_MARCH, FILE_2024_APRIL) for r in _marches_2024(p)}
    partnerships = [r for r in recs.values() if r["objet"].startswith("Partenariat d'innovation")]
    assert len(partnerships) == 2
    for r in partnerships:
        assert r["procedure"] == "Procédure avec négociation" and r["marcheInnovant"] is True
    r2122 = [r for r in recs.values() if "R. 2122-9-1" in r["objet"]]
    assert len(r2122) == 4  # 3 in March + 1 new in April
    for r in r2122:
        assert r["procedure"] == "Marché passé sans publicité ni mise en concurrence préalable"
        assert 40000 <= r["montant"] < 100000 and r["marcheInnovant"] is True
        assert r["dateNotification"] >= "2018-12-25"
    cpv73 = sorted(r["id"] for r in recs.values() if r["codeCPV"].startswith("73"))
    assert cpv73 == ["25MTE0019", "DREAL24-0102", "INFRE-24-0031"]  # 2 R&D + 1 study (trap)


def test_readme_is_labelled_fictitious_and_cites_existing_uids():
    text = README.read_text(encoding="utf-8")
    assert "FICTIF" in text
    assert "Licence Ouverte" in text and "Etalab 2.0" in text
    known = set()
    for path in (FILE_2024_MARCH, FILE_2024_APRIL):
        known |= {"".join(_uid(r)) for r in _marches_2024(path)}
    known |= {"".join(_uid(r)) for r in _load(FILE_2019)["marches"]}
    known |= {m.findtext("acheteur/id") + m.findtext("id") for m in etree.parse(str(FILE_XML)).getroot().iter("marche")}
    cited = set(re.findall(r"`(\d{14}[^`\s]+)`", text))
    assert len(cited) >= 15
    assert cited <= known, sorted(cited - known)
