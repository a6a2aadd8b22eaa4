"""Table Schemas of the published tables (schemas/*.json) and pipelines.schemas.validate_csv."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from frictionless import Schema, validate

from pipelines import schemas
from pipelines.schemas import TABLES, SchemaReport, field_names, fields, load_schema, primary_key, validate_csv

REPO_ROOT = Path(__file__).resolve().parents[1]

# The published contract (DESIGN.md §4 and the issue): names and order are stable, consumers rely on them.
CONTRACT = {
    "marches": [
        "uid", "id", "acheteur_id", "acheteur_nom", "acheteur_categorie", "objet", "code_cpv", "procedure",
        "nature", "techniques", "montant", "montant_initial", "date_notification", "annee", "duree_mois",
        "date_publication_donnees", "titulaires_ids", "nb_titulaires", "nb_modifications", "lieu_execution_code",
        "lieu_execution_type", "forme_prix", "types_prix", "ccag", "offres_recues", "id_accord_cadre",
        "marche_innovant_declare",
        "innovant", "innovation_score", "innovation_signaux", "source", "format_source", "source_fichier",
        "nb_versions_fusionnees", "anomalies", "acheteur_categorie_source", "ministere", "montant_aberrant",
    ],
    "avis": ["id_avis", "source", "type_avis", "date_publication", "acheteur_nom", "acheteur_id", "acheteur_pays", "objet", "code_cpv", "procedure", "nature_marche", "date_limite_reponse", "montant", "montant_nature", "nb_lots", "id_procedure", "reference_ted", "famille", "avis_lies", "innovant", "innovation_score", "innovation_signaux", "url", "format_source", "source_fichier", "anomalies"],
    "titulaires": ["uid", "rang", "titulaire_id", "titulaire_type_identifiant", "titulaire_nom", "categorie_entreprise",
                   "categorie_entreprise_source"],
    "concessions": [
        "uid", "id", "autorite_concedante_id", "autorite_concedante_nom", "nature", "objet", "procedure",
        "valeur_globale", "montant_subvention_publique", "date_signature", "date_debut_execution",
        "date_publication_donnees", "duree_mois", "annee", "concessionnaires_ids", "nb_modifications", "source",
        "format_source", "source_fichier", "nb_versions_fusionnees", "anomalies",
    ],
    "indicateurs": [
        "annee", "perimetre", "famille", "mesure", "valeur", "numerateur", "denominateur", "unite", "cible",
        "couverture", "nb_marches", "methode", "ventilation", "modalite",
    ],
    "references": [
        "id", "annee", "periode", "famille", "perimetre_officiel", "definition", "valeur_officielle", "unite",
        "source", "url", "fiabilite", "perimetre_observatoire", "mesure_observatoire", "annee_observatoire",
        "valeur_observatoire", "ecart", "explication",
    ],
    "rejets": ["source", "fichier", "position", "identifiant", "motif", "detail", "format_source"],
    "qualite": ["source", "fichier", "format_source", "indicateur", "valeur", "unite", "detail"],
}
PRIMARY_KEYS = {
    "avis": ["id_avis"],
    "marches": ["uid"],
    "titulaires": ["uid", "rang"],
    "concessions": ["uid"],
    "indicateurs": ["annee", "perimetre", "famille", "mesure", "ventilation", "modalite"],
    "references": ["id"],
    "qualite": ["source", "fichier", "indicateur"],
    "rejets": [],
}
PROCEDURES_2024 = [
    "Procédure adaptée",
    "Appel d'offres ouvert",
    "Appel d'offres restreint",
    "Procédure avec négociation",
    "Marché passé sans publicité ni mise en concurrence préalable",
    "Dialogue compétitif",
]
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def _cell(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def example_row(table: str) -> dict[str, str]:
    return {f["name"]: _cell(f.get("example")) for f in fields(table)}


def write_csv(path: Path, table: str, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    header = header or field_names(table)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(name, "") for name in header])
    return path


# ---------------------------------------------------------------------------------------------- the schemas


def test_one_schema_file_per_published_table():
    assert TABLES == ("marches", "avis", "titulaires", "concessions", "indicateurs", "references", "rejets",
                      "qualite")
    if "ACHATS_SCHEMAS_DIR" not in os.environ:
        assert schemas.SCHEMAS_DIR == (REPO_ROOT / "schemas").resolve()
    assert set(TABLES) <= {p.stem for p in schemas.SCHEMAS_DIR.glob("*.json")}


@pytest.mark.parametrize("table", TABLES)
def test_schema_is_a_valid_table_schema(table):
    descriptor = load_schema(table)
    report = validate(descriptor, type="schema")
    assert report.valid, report.flatten(["type", "note"])
    assert Schema.from_descriptor(descriptor).field_names == CONTRACT[table]


def test_schema_validation_catches_a_broken_descriptor():
    broken = load_schema("marches")
    broken["fields"][0]["type"] = "texte"
    broken["primaryKey"] = ["cle_inconnue"]
    assert not validate(broken, type="schema").valid


@pytest.mark.parametrize("table", TABLES)
def test_columns_and_order_follow_the_published_contract(table):
    assert field_names(table) == CONTRACT[table]
    assert primary_key(table) == PRIMARY_KEYS[table]


@pytest.mark.parametrize("table", TABLES)
def test_schema_metadata_follows_schema_data_gouv_conventions(table):
    d = load_schema(table)
    assert d["$schema"].endswith("tableschema.json")
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", d["name"]) and table in d["name"]
    for key in ("title", "description"):
        assert isinstance(d[key], str) and len(d[key]) > 10, key
    assert d["keywords"] and all(isinstance(k, str) and k for k in d["keywords"])
    assert d["countryCode"] == "FR"
    assert d["version"] == "0.1.0"
    for key in ("created", "lastModified"):
        date.fromisoformat(d[key])
    assert d["contributors"] and all(c.get("title") and c.get("role") for c in d["contributors"])
    assert [lic["name"] for lic in d["licenses"]] == ["etalab-2.0"]
    assert d["sources"] and all(s.get("title") for s in d["sources"])
    assert any("Arrêté" in s["title"] or "Code de la commande publique" in s["title"] for s in d["sources"])
    assert d["missingValues"] == [""]


@pytest.mark.parametrize("table", TABLES)
def test_every_field_is_documented_and_constrained(table):
    pk = set(primary_key(table))
    for f in fields(table):
        name = f["name"]
        assert SNAKE_CASE.match(name), name
        assert f.get("title"), name
        assert isinstance(f.get("description"), str) and len(f["description"]) >= 15, name
        assert isinstance(f.get("example"), str) and f["example"] != "", name
        assert f.get("type") in {"string", "number", "integer", "boolean", "date"}, name
        assert isinstance(f.get("constraints"), dict) and "required" in f["constraints"], name
        if name in pk:
            assert f["constraints"]["required"] is True, name
        if f["type"] == "boolean":
            assert f["trueValues"] == ["true"] and f["falseValues"] == ["false"], name


def test_vocabularies_of_the_contract():
    by_name = {f["name"]: f for f in fields("marches")}
    assert by_name["procedure"]["constraints"]["enum"] == PROCEDURES_2024
    assert by_name["nature"]["constraints"]["enum"] == ["Marché", "Marché de partenariat", "Marché de défense ou de sécurité"]
    assert by_name["acheteur_categorie"]["constraints"]["enum"] == ["etat", "operateur_etat", "hopital", "collectivite",
                                                                    "autre"]
    assert "acheteur_categorie_source" in by_name["acheteur_categorie"]["description"]  # the method is flagged
    assert "pattern" not in by_name["acheteur_id"]["constraints"]  # malformed SIRET are flagged, not rejected
    assert by_name["innovant"]["constraints"]["required"] is True
    assert by_name["marche_innovant_declare"]["constraints"]["required"] is False
    assert by_name["innovation_score"]["constraints"] == {"required": True, "minimum": 0, "maximum": 1}
    assert by_name["format_source"]["constraints"]["enum"] == [
        "decp-2019-json", "decp-2024-json", "decp-2019-xml", "decp-2024-xml", "decp-2019-csv-aplati",
        "decp-tabulaire-csv",
    ]
    assert load_schema("titulaires")["foreignKeys"] == [
        {"fields": ["uid"], "reference": {"resource": "marches", "fields": ["uid"]}}
    ]
    motif = {f["name"]: f for f in fields("rejets")}["motif"]
    assert {"uid_en_collision", "enregistrement_invalide", "version_anterieure"} <= set(motif["constraints"]["enum"])


@pytest.mark.parametrize("table", TABLES)
def test_examples_pass_their_own_constraints(tmp_path, table):
    path = write_csv(tmp_path / f"{table}.csv", table, [example_row(table)])
    report = validate_csv(path, table)
    assert report == SchemaReport(valid=True, row_count=1, error_count=0, errors=[], table=table)


def test_load_schema_returns_an_independent_copy():
    first = load_schema("marches")
    first["fields"].clear()
    assert len(load_schema("marches")["fields"]) == len(CONTRACT["marches"])
    with pytest.raises(FileNotFoundError):
        load_schema("avis_inexistant")
    with pytest.raises(ValueError):
        load_schema("../schemas/marches")


def test_schemas_dir_comes_from_the_environment(tmp_path):
    (tmp_path / "marches.json").write_text(json.dumps({"fields": [{"name": "seul_champ", "type": "string"}]}))
    code = "from pipelines import schemas; print(schemas.SCHEMAS_DIR); print(schemas.field_names('marches'))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"ACHATS_SCHEMAS_DIR": str(tmp_path), "PATH": ""},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out == [str(tmp_path.resolve()), "['seul_champ']"]


# ---------------------------------------------------------------------------------------------- validate_csv


def _marches_rows(n: int = 3) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        row = example_row("marches")
        row["id"] = f"2021F{i:04d}"
        row["uid"] = row["acheteur_id"] + row["id"]
        rows.append(row)
    return rows


def _invalid_with(tmp_path, rows, field_name, header=None) -> SchemaReport:
    report = validate_csv(write_csv(tmp_path / "marches.csv", "marches", rows, header), "marches")
    assert not report.valid
    assert report.error_count >= 1 and report.errors
    assert any(f"champ {field_name}" in line for line in report.errors), report.errors
    return report


def test_valid_table_of_several_rows(tmp_path):
    report = validate_csv(write_csv(tmp_path / "marches.csv", "marches", _marches_rows(3)), "marches")
    assert report.valid and report.row_count == 3 and report.error_count == 0


def test_value_outside_the_procedure_vocabulary_is_invalid(tmp_path):
    rows = _marches_rows()
    rows[1]["procedure"] = "Partenariat d'innovation"
    report = _invalid_with(tmp_path, rows, "procedure")
    assert report.error_count == 1
    assert report.errors[0].startswith("ligne 3, champ procedure")
    assert "enum" in report.errors[0]


def test_non_numeric_amount_is_invalid(tmp_path):
    rows = _marches_rows()
    rows[0]["montant"] = "12 345,50"
    report = _invalid_with(tmp_path, rows, "montant")
    assert "type-error" in report.errors[0] and "12 345,50" in report.errors[0]


def test_duplicated_primary_key_is_invalid(tmp_path):
    rows = _marches_rows()
    rows[2]["uid"] = rows[0]["uid"]
    report = _invalid_with(tmp_path, rows, "uid")
    assert "primary-key" in report.errors[0]


@pytest.mark.parametrize("field_name", ["innovant", "uid", "source_fichier", "nb_versions_fusionnees"])
def test_missing_required_value_is_invalid(tmp_path, field_name):
    rows = _marches_rows()
    rows[0][field_name] = ""
    _invalid_with(tmp_path, rows, field_name)


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        ("innovant", "True"),  # booleans are written true/false only
        ("innovation_score", "1.5"),
        ("code_cpv", "45421000-9"),
        ("innovation_signaux", "Mot Clé"),
        ("nb_versions_fusionnees", "0"),
        ("montant", "0"),
        ("date_notification", "29/06/2021"),
        ("format_source", "decp-2025-json"),
    ],
)
def test_value_breaking_a_constraint_is_invalid(tmp_path, field_name, value):
    rows = _marches_rows()
    rows[0][field_name] = value
    _invalid_with(tmp_path, rows, field_name)


def test_columns_in_the_wrong_order_are_invalid(tmp_path):
    header = field_names("marches")
    header[0], header[1] = header[1], header[0]
    _invalid_with(tmp_path, _marches_rows(), "uid", header=header)


def test_at_most_twenty_errors_are_reported(tmp_path):
    rows = _marches_rows(30)
    for row in rows:
        row["procedure"] = "Procédure inconnue"
    report = validate_csv(write_csv(tmp_path / "marches.csv", "marches", rows), "marches")
    assert not report.valid and report.error_count == 30 and len(report.errors) == 20
    capped = validate_csv(tmp_path / "marches.csv", "marches", limit_errors=5)
    assert not capped.valid and capped.error_count == 5


def test_foreign_key_is_left_to_the_package_so_titulaires_validate_alone(tmp_path):
    rows = [example_row("titulaires") | {"rang": str(i)} for i in (1, 2)]
    assert validate_csv(write_csv(tmp_path / "t.csv", "titulaires", rows), "titulaires").valid
    rows[1]["rang"] = "1"
    report = validate_csv(write_csv(tmp_path / "t.csv", "titulaires", rows), "titulaires")
    assert not report.valid and any("champ uid,rang" in line for line in report.errors)


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe\x00\x01\x00garbage\xff", None],
    ids=["binary", "missing"],
)
def test_unreadable_file_is_an_invalid_report_not_an_exception(tmp_path, content):
    path = tmp_path / "rejets.csv"
    if content is not None:
        path.write_bytes(content)
    report = validate_csv(path, "rejets")
    assert isinstance(report, SchemaReport)
    assert not report.valid and report.row_count == 0 and report.error_count == 1
    assert report.errors[0].startswith("fichier")


def test_exception_raised_by_frictionless_becomes_an_invalid_report(tmp_path, monkeypatch):
    from frictionless import FrictionlessException, Resource
    from frictionless.errors import SchemeError

    def explode(self, *args, **kwargs):
        raise FrictionlessException(SchemeError(note="disque illisible"))

    monkeypatch.setattr(Resource, "validate", explode)
    path = write_csv(tmp_path / "rejets.csv", "rejets", [example_row("rejets")])
    report = validate_csv(path, "rejets")
    assert not report.valid and report.error_count == 1 and report.row_count == 0
    assert report.errors[0].startswith("fichier") and "disque illisible" in report.errors[0]
