"""Great Expectations suites of every published table (pipelines.quality) and their Dagster asset checks.

For each table: the clean sample table passes, and a copy corrupted on purpose fails with exactly the expected
rule and severity. Then the Dagster side: a blocking failure stops the publication (the previous one stays),
a warning does not.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pipelines import pipeline, schemas
from pipelines.decp import vocabulary
from pipelines.quality import (
    AVERTISSEMENT,
    BLOQUANT,
    TABLES,
    Report,
    blocking_failures,
    table_rules,
    validate_marches,
    validate_table,
    validate_tables,
)
from pipelines.quality.expectations import Failure
from pipelines.quality.rules import prepare
from pipelines.settings import SAMPLE_DIR, sample_files
from pipelines.sirene.categories import BUYER_CATEGORIES
from pipelines.tables import conform

REPO_ROOT = Path(__file__).resolve().parents[1]
TODAY = date(2026, 11, 26)  # fixed, so that the plausible-date bounds do not move with the calendar


def avis_frame() -> pd.DataFrame:
    """A few notices of both sources (the shipped sample has none), classified as the pipeline does."""
    rows = [
        {"id_avis": "boamp:24-12345", "source": "boamp", "type_avis": "avis_marche", "date_publication": "2024-03-01",
         "date_limite_reponse": "2024-04-02", "objet": "Partenariat d'innovation pour un prototype de capteur",
         "code_cpv": "73100000", "procedure": "Partenariat d'innovation", "nature_marche": "services",
         "format_source": "boamp-ods-json", "source_fichier": "boamp.json", "structured_signals": None},
        {"id_avis": "boamp:24-12346", "source": "boamp", "type_avis": "avis_attribution",
         "date_publication": "2024-05-10", "objet": "Nettoyage des locaux", "code_cpv": "90910000",
         "nature_marche": "services", "montant": 120000.0, "montant_nature": "attribue",
         "format_source": "boamp-ods-json", "source_fichier": "boamp.json", "structured_signals": None},
        {"id_avis": "ted:553508-2023", "source": "ted", "type_avis": "avis_marche", "date_publication": "2023-09-12",
         "objet": "Fourniture de mobilier scolaire", "nature_marche": "fournitures", "acheteur_pays": "FRA",
         "reference_ted": "553508-2023", "format_source": "ted-eforms-xml", "source_fichier": "ted.xml",
         "url": "https://ted.europa.eu/fr/notice/-/detail/553508-2023", "structured_signals": None},
        {"id_avis": "ted:100200-2024", "source": "ted", "type_avis": "avis_attribution",
         "date_publication": "2024-02-20", "objet": "Travaux de voirie", "nature_marche": "travaux",
         "format_source": "ted-eforms-xml", "source_fichier": "ted.xml", "structured_signals": None},
    ]
    frame = conform(pd.DataFrame(rows), "avis")
    frame["structured_signals"] = pd.Series([None] * len(rows), dtype="string")
    return pipeline.classify_avis(frame)


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    """The published tables of the shipped sample (the sequence of tests/test_publish.py), notices added."""
    normalized = pipeline.normalize(pipeline.ingest([SAMPLE_DIR]))
    marches = pipeline.classify_marches(normalized.marches)
    indicateurs = pipeline.indicators(marches, normalized.titulaires)
    out = {
        "marches": marches,
        "titulaires": normalized.titulaires,
        "concessions": normalized.concessions,
        "avis": avis_frame(),
        "indicateurs": indicateurs,
        "references": pipeline.references(indicateurs, marches),
        "rejets": normalized.rejets,
    }
    if "qualite" in TABLES:
        out["qualite"] = normalized.qualite
    assert set(out) == set(TABLES)
    assert all(len(frame) for frame in out.values())
    return out


def run(name: str, frame: pd.DataFrame, context: dict[str, pd.DataFrame] | None = None) -> Report:
    return validate_table(name, frame, context, today=TODAY)


def failed(report: Report) -> dict[str, str]:
    """Failed rule id → severity."""
    return {f.regle: f.severite for f in report.failures}


# ---------------------------------------------------------------------------------------------- the suites


@pytest.mark.parametrize("table", TABLES)
def test_every_table_has_a_suite_from_its_schema_with_severities(table):
    suite = table_rules(table, TODAY)
    ids = [rule.id for rule in suite]
    assert len(ids) == len(set(ids))
    assert {rule.meta["severite"] for rule in suite} <= {BLOQUANT, AVERTISSEMENT}
    assert all(rule.severite == BLOQUANT for rule in suite if rule.origine == "schema")
    by_kind = {(rule.expectation, rule.colonne) for rule in suite}
    for field in schemas.fields(table):
        constraints = field.get("constraints") or {}
        if constraints.get("required"):
            assert ("ExpectColumnValuesToNotBeNull", field["name"]) in by_kind
        if "enum" in constraints:
            assert ("ExpectColumnValuesToBeInSet", field["name"]) in by_kind
        if "minimum" in constraints or "maximum" in constraints:
            assert ("ExpectColumnValuesToBeBetween", field["name"]) in by_kind
    pk = schemas.primary_key(table)
    if pk:
        assert any(rule.id.endswith("cle_primaire") for rule in suite)
    # Vocabularies come from the schema, the single source of truth.
    enums = {rule.colonne: rule.kwargs["value_set"] for rule in suite
             if rule.expectation == "ExpectColumnValuesToBeInSet" and rule.origine == "schema"}
    for field in schemas.fields(table):
        if "enum" in (field.get("constraints") or {}):
            assert enums[field["name"]] == field["constraints"]["enum"]


@pytest.mark.parametrize("table", TABLES)
def test_clean_sample_table_passes_every_rule(tables, table):
    report = run(table, tables[table], tables)
    assert report.failures == ()
    assert report.success and report.skipped == ()
    assert report.evaluated == report.successful == len(table_rules(table, TODAY)) >= 7
    assert report.rows == len(tables[table])


def _row(frame: pd.DataFrame, mask) -> int:
    index = frame.index[pd.Series(mask, index=frame.index).fillna(False).astype(bool)]
    assert len(index), "no row to corrupt in the sample"
    return index[0]


def _marches_score_above_one(df):
    row = _row(df, df["innovant"])
    df.loc[row, "innovation_score"] = 2.0


def _marches_decision_against_score(df):
    row = _row(df, ~df["innovant"])
    df.loc[row, "innovant"] = True


def _marches_year_of_another_date(df):
    row = _row(df, df["date_notification"].notna())
    df.loc[row, "annee"] = df.loc[row, "annee"] - 1


def _marches_outlier_flag(df):
    row = _row(df, df["montant"].between(200, 999_999_999))
    df.loc[row, "montant_aberrant"] = True


def _marches_scope_source(df):
    df["acheteur_categorie_source"] = df["acheteur_categorie_source"].astype(object)
    df.loc[df.index[0], "acheteur_categorie_source"] = "devine"


def _marches_duplicated_row(df):
    return pd.concat([df, df.iloc[[3]]], ignore_index=True)


def _marches_malformed_buyer_sirets(df):
    rows = df.index[: max(6, len(df) // 10)]  # > 5 %
    df.loc[rows, "acheteur_id"] = "2159 0163 8000 19"
    df.loc[rows, "uid"] = df.loc[rows, "acheteur_id"] + df.loc[rows, "id"]


def _titulaires_rank_zero(df):
    df.loc[df.index[0], "rang"] = 0


def _titulaires_rank_beyond_count(df):
    df.loc[df.index[0], "rang"] = 99


def _titulaires_orphan(df):
    df.loc[df.index[0], "uid"] = "00000000000000-inconnu"


def _concessions_year(df):
    row = _row(df, df["date_signature"].notna())
    df.loc[row, "annee"] = df.loc[row, "annee"] + 3


def _concessions_huge_value(df):
    df.loc[df.index[0], "valeur_globale"] = 2e10


def _avis_prefix(df):
    row = _row(df, df["source"] == "boamp")
    df.loc[row, "source"] = "ted"


def _avis_decision(df):
    row = _row(df, ~df["innovant"])
    df.loc[row, "innovant"] = True


def _indicateurs_ratio(df):
    row = _row(df, (df["denominateur"] > 0) & df["valeur"].between(0.01, 0.99))
    df.loc[row, "valeur"] = df.loc[row, "valeur"] + 1e-3


def _indicateurs_missing_value(df):
    row = _row(df, df["denominateur"] > 0)
    df.loc[row, "valeur"] = pd.NA


def _indicateurs_coverage(df):
    df.loc[df.index[0], "couverture"] = 1.5


def _indicateurs_scopes(df):
    """An etat denominator above the one of tous_acheteurs, its value kept consistent."""
    keys = ["annee", "famille", "mesure"]
    ensemble = df["ventilation"].eq("ensemble") & df["mesure"].eq("part_nombre") & df["famille"].eq("objet_innovant")
    etat = df[ensemble & df["perimetre"].eq("etat")].iloc[0]
    wider = df[ensemble & df["perimetre"].eq("tous_acheteurs")].set_index(keys).loc[tuple(etat[keys])]
    row = etat.name
    df.loc[row, "denominateur"] = float(wider["denominateur"]) + 10
    df.loc[row, "valeur"] = round(float(etat["numerateur"]) / float(df.loc[row, "denominateur"]), 6)


def _indicateurs_unit(df):
    row = _row(df, df["mesure"].eq("part_montant"))
    df.loc[row, "unite"] = "marches"


def _references_ecart(df):
    row = _row(df, df["valeur_observatoire"].notna())
    df.loc[row, "ecart"] = df.loc[row, "ecart"] + 1


def _references_ftp(df):
    df.loc[df.index[0], "url"] = "ftp://example.org/rapport.pdf"


def _references_space(df):
    df.loc[df.index[0], "url"] = "https://example.org/rapport annuel.pdf"


def _rejets_reason(df):
    df.loc[df.index[0], "motif"] = "motif_invente"


def _rejets_blank_file(df):
    df.loc[df.index[0], "fichier"] = "   "


def _rejets_empty_file(df):
    df.loc[df.index[0], "fichier"] = ""


def _qualite_balance(df):
    row = _row(df, df["indicateur"].eq("lus") & df["fichier"].ne("*"))
    df.loc[row, "valeur"] = df.loc[row, "valeur"] + 1


CORRUPTIONS = [
    ("marches", _marches_score_above_one, {"marches.innovation_score.bornes": BLOQUANT}),
    ("marches", _marches_decision_against_score, {"marches.innovant.seuil_score": BLOQUANT}),
    ("marches", _marches_year_of_another_date, {"marches.annee.annee_de_notification": BLOQUANT}),
    ("marches", _marches_outlier_flag, {"marches.montant_aberrant.coherence_aberrant": BLOQUANT}),
    ("marches", _marches_scope_source, {"marches.acheteur_categorie_source.vocabulaire": BLOQUANT}),
    ("marches", _marches_duplicated_row, {"marches.uid.cle_primaire": BLOQUANT}),
    ("marches", _marches_malformed_buyer_sirets, {"marches.acheteur_id.siret": AVERTISSEMENT}),
    ("titulaires", _titulaires_rank_zero, {"titulaires.rang.bornes": BLOQUANT}),
    ("titulaires", _titulaires_rank_beyond_count, {"titulaires.rang.au_plus_nb_titulaires": BLOQUANT}),
    ("titulaires", _titulaires_orphan, {"titulaires.uid.existe_dans_marches": BLOQUANT}),
    ("concessions", _concessions_year, {"concessions.annee.annee_de_signature": BLOQUANT}),
    ("concessions", _concessions_huge_value, {"concessions.valeur_globale.plafond_plausible": AVERTISSEMENT}),
    ("avis", _avis_prefix, {"avis.id_avis.prefixe_source": BLOQUANT}),
    ("avis", _avis_decision, {"avis.innovant.seuil_score": BLOQUANT}),
    ("indicateurs", _indicateurs_ratio, {"indicateurs.valeur.ratio": BLOQUANT}),
    ("indicateurs", _indicateurs_missing_value, {"indicateurs.valeur.ratio": BLOQUANT}),
    ("indicateurs", _indicateurs_coverage, {"indicateurs.couverture.bornes": BLOQUANT}),
    ("indicateurs", _indicateurs_scopes, {"indicateurs.denominateur.perimetres_emboites": BLOQUANT}),
    ("indicateurs", _indicateurs_unit, {"indicateurs.unite.unite_de_mesure": BLOQUANT}),
    ("references", _references_ecart, {"references.ecart.difference": BLOQUANT}),
    ("references", _references_ftp, {"references.url.motif": BLOQUANT, "references.url.http": BLOQUANT}),
    ("references", _references_space, {"references.url.http": BLOQUANT}),
    ("rejets", _rejets_reason, {"rejets.motif.vocabulaire": BLOQUANT}),
    ("rejets", _rejets_blank_file, {"rejets.fichier.non_vide": BLOQUANT}),
    ("rejets", _rejets_empty_file, {"rejets.fichier.obligatoire": BLOQUANT}),
    ("qualite", _qualite_balance, {"qualite.valeur.bilan_lus": BLOQUANT}),
]


@pytest.mark.parametrize(("table", "corrupt", "expected"), CORRUPTIONS,
                         ids=[c[1].__name__.lstrip("_") for c in CORRUPTIONS])
def test_corrupted_table_fails_the_expected_rule_with_its_severity(tables, table, corrupt, expected):
    if table not in TABLES:
        pytest.skip(f"{table} is not published")
    frame = tables[table].copy()
    changed = corrupt(frame)  # in place, or a new frame
    frame = frame if changed is None else changed
    report = run(table, frame, tables)
    assert failed(report) == expected
    assert report.success is (BLOQUANT not in expected.values())
    for failure in report.failures:
        assert failure.table == table and failure.detail
        assert failure.unexpected_count is not None and failure.unexpected_count >= 1
        assert failure.examples


def test_only_failed_rules_are_run_again_for_their_details(tables, monkeypatch):
    from pipelines.quality import expectations

    calls = []
    real = expectations._run
    monkeypatch.setattr(expectations, "_run", lambda gx_state, name, data, rules, result_format: calls.append(
        (result_format["result_format"], [r.id for r in rules])) or real(gx_state, name, data, rules, result_format))
    frame = tables["titulaires"].copy()
    frame.loc[frame.index[0], "uid"] = "00000000000000-inconnu"
    report = run("titulaires", frame, tables)
    (failure,) = report.failures
    assert calls[0][0] == "BOOLEAN_ONLY" and len(calls[0][1]) == report.evaluated > 1
    assert calls[1:] == [("SUMMARY", [failure.regle])]
    assert failure.unexpected_count == 1 and failure.examples == ("00000000000000-inconnu",)


def test_failure_carries_the_offending_values_and_a_human_line(tables):
    frame = tables["titulaires"].copy()
    frame.loc[frame.index[0], "uid"] = "00000000000000-inconnu"
    (failure,) = run("titulaires", frame, tables).failures
    assert failure.expectation == "expect_column_values_to_be_null" and failure.column == "uid"
    assert failure.examples == ("00000000000000-inconnu",) and failure.unexpected_count == 1
    assert failure.line().startswith("titulaires : chaque uid de titulaires existe dans marches")
    assert "00000000000000-inconnu" in failure.line()
    assert failure.as_dict()["severite"] == BLOQUANT


def test_cross_table_rules_are_skipped_without_their_table(tables):
    frame = tables["titulaires"].copy()
    frame.loc[frame.index[0], "uid"] = "00000000000000-inconnu"
    report = run("titulaires", frame)
    assert report.success and report.failures == ()
    assert set(report.skipped) == {"titulaires.uid.existe_dans_marches", "titulaires.rang.au_plus_nb_titulaires"}
    assert report.evaluated == len(table_rules("titulaires", TODAY)) - 2


def test_blocking_failures_of_all_tables_as_lines(tables):
    some = {name: tables[name] for name in ("marches", "titulaires", "concessions", "rejets")}
    assert blocking_failures(some, today=TODAY) == []
    broken = dict(some, marches=tables["marches"].copy(), rejets=tables["rejets"].copy(),
                  concessions=tables["concessions"].copy())
    _marches_score_above_one(broken["marches"])
    _concessions_huge_value(broken["concessions"])  # a warning: not in the lines
    _rejets_reason(broken["rejets"])
    lines = blocking_failures(broken, today=TODAY)
    assert len(lines) == 2
    assert lines[0].startswith("marches : innovation_score entre 0 et 1 (expect_column_values_to_be_between")
    assert "2" in lines[0].rsplit(":", 1)[1]
    assert lines[1].startswith("rejets : motif dans le vocabulaire du schéma") and "motif_invente" in lines[1]
    reports = validate_tables(broken, today=TODAY)
    assert list(reports) == [t for t in TABLES if t in broken]
    assert [f.regle for f in reports["concessions"].warnings] == ["concessions.valeur_globale.plafond_plausible"]
    # Changing buyer ids orphans their suppliers: the cross-table rule sees it.
    broken["marches"] = tables["marches"].copy()
    _marches_malformed_buyer_sirets(broken["marches"])
    reports = validate_tables({"marches": broken["marches"], "titulaires": tables["titulaires"]}, today=TODAY)
    assert failed(reports["marches"]) == {"marches.acheteur_id.siret": AVERTISSEMENT}
    assert failed(reports["titulaires"]) == {"titulaires.uid.existe_dans_marches": BLOQUANT}
    with pytest.raises(ValueError, match="inconnue"):
        validate_tables({"marchés": tables["marches"]})


# ------------------------------------------------------------------- date handling, empty and missing columns


@pytest.mark.parametrize("as_type", [str, pd.Timestamp, date.fromisoformat], ids=["iso-string", "timestamp", "date"])
def test_date_in_year_2921_names_the_date_rule(tables, as_type):
    df = tables["marches"].copy()
    df["date_notification"] = pd.Series(
        [None if pd.isna(v) else as_type(v.date().isoformat()) for v in df["date_notification"]], dtype=object)
    assert failed(run("marches", df)) == {}
    row = _row(df, df["date_notification"].notna())
    df.loc[row, "date_notification"] = as_type("2921-03-15")
    df.loc[row, "annee"] = 2921
    report = run("marches", df)
    # 2921 is outside the plausible years too; one bad date in 87 is above the 0.1 % tolerance.
    assert failed(report) == {"marches.date_notification.plage_plausible": BLOQUANT,
                              "marches.annee.plage_plausible": BLOQUANT}
    assert "2921-03-15" in report.failures[0].examples


def test_unreadable_date_counts_as_out_of_range(tables):
    df = tables["marches"].copy()
    df["date_notification"] = df["date_notification"].astype(object)
    row = _row(df, df["date_notification"].notna())
    df.loc[row, "date_notification"] = "15/03/2021"
    assert set(failed(run("marches", df))) == {"marches.date_notification.plage_plausible",
                                               "marches.annee.annee_de_notification"}


@pytest.mark.parametrize("table", ["marches", "indicateurs"])
@pytest.mark.parametrize("kind", ["no-columns", "typed-no-rows"])
def test_empty_frame_succeeds_with_every_rule_evaluated(tables, table, kind):
    frame = pd.DataFrame() if kind == "no-columns" else tables[table].iloc[0:0]
    report = run(table, frame, tables)
    assert report.failures == () and report.success
    assert report.evaluated == report.successful == len(table_rules(table, TODAY))


def test_missing_column_in_a_non_empty_frame_fails_its_rules(tables):
    report = run("marches", tables["marches"].drop(columns=["procedure", "montant"]))
    assert set(failed(report)) == {"marches.procedure.vocabulaire", "marches.montant.bornes",
                                   "marches.montant.plafond_plausible", "marches.montant_aberrant.coherence_aberrant"}
    assert all(f.unexpected_count is None and "non évaluée" in f.detail for f in report.failures)
    assert "procedure" in report.failures[0].detail


def test_prepare_reads_blank_strings_as_missing_and_numbers_as_floats(tables):
    frame = tables["rejets"].copy()
    frame.loc[frame.index[0], "identifiant"] = ""
    frame.loc[frame.index[0], "fichier"] = ""
    data, active, skipped = prepare("rejets", frame, table_rules("rejets", TODAY))
    assert data["fichier"].isna().all() and skipped == [] and len(active) == len(table_rules("rejets", TODAY))
    assert str(data["position"].dtype) == "float64"


def test_mostly_tolerates_a_few_malformed_siret_as_a_warning(tables):
    df = tables["marches"].copy()
    df.loc[df.index[0], "acheteur_id"] = "2159016380001"  # 1 of 87 < 5 %
    df.loc[df.index[0], "uid"] = df.loc[df.index[0], "acheteur_id"] + df.loc[df.index[0], "id"]
    assert run("marches", df).failures == ()


def test_former_marches_api_still_answers(tables):
    df = tables["marches"].copy()
    _marches_score_above_one(df)
    _marches_malformed_buyer_sirets(df)
    report = validate_marches(df, today=TODAY)
    assert not report.success
    assert [(f["expectation"], f["column"]) for f in report.failures] == [
        ("expect_column_values_to_be_between", "innovation_score")]
    assert [f["column"] for f in report.warnings] == ["acheteur_id"]
    assert all(isinstance(v, str) for f in report.failures + report.warnings for v in f.values())


def test_no_progress_bar_on_stderr(tables, capfd):
    run("rejets", tables["rejets"])
    captured = capfd.readouterr()
    assert "Calculating Metrics" not in captured.err + captured.out


def test_vocabularies_match_the_published_schema():
    by_name = {f["name"]: f for f in schemas.fields("marches")}
    # What the normaliser produces must be what the schema (and so the suite) accepts.
    assert list(vocabulary.PROCEDURES) == by_name["procedure"]["constraints"]["enum"]
    assert list(vocabulary.NATURES) == by_name["nature"]["constraints"]["enum"]
    assert list(vocabulary.PRICE_FORMS) == by_name["forme_prix"]["constraints"]["enum"]
    assert list(BUYER_CATEGORIES) == by_name["acheteur_categorie"]["constraints"]["enum"]
    for table in TABLES:
        names = set(schemas.field_names(table))
        for rule in table_rules(table, TODAY):
            assert rule.colonne in names or set(rule.colonne.split(",")) <= names, rule.id
            assert all(source in names for source in rule.sources), rule.id


def test_importing_the_quality_package_does_not_import_gx():
    code = "import sys, pipelines.quality; print('great_expectations' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_gx_checks_batches_without_hashing_them(tables, monkeypatch):
    """GX would hash every batch frame into a fingerprint no report reads (a third of the national suites' time)."""
    from great_expectations.execution_engine import pandas_execution_engine

    run("rejets", tables["rejets"])  # the process' GX context exists
    hashed = []
    monkeypatch.setattr(pandas_execution_engine, "hash_pandas_dataframe", lambda frame: hashed.append(len(frame)))
    report = run("marches", tables["marches"])
    assert report.evaluated > 20 and not report.blocking
    assert hashed == []


# ------------------------------------------------------------------------------------------------- Dagster


def test_check_result_severity_follows_the_failures():
    from pipelines.defs.checks import check_result

    def failure(severite):
        return Failure("marches", "r", "expect_x", "c", "d", severite, 1, 1.0, ("v",), "1 valeur(s) hors règle")

    clean = check_result(Report("marches", 10, 3, 3, ()))
    assert clean.passed
    warned = check_result(Report("marches", 10, 3, 2, (failure(AVERTISSEMENT),)))
    assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN
    assert warned.metadata["avertissements"].value == 1 and warned.metadata["echecs_bloquants"].value == 0
    blocked = check_result(Report("marches", 10, 3, 1, (failure(AVERTISSEMENT), failure(BLOQUANT))))
    assert not blocked.passed and blocked.severity == dg.AssetCheckSeverity.ERROR


def _materialize(tmp_path: Path, out: Path, checks_to_run: list) -> dg.ExecuteInProcessResult:
    from pipelines.defs import assets
    from pipelines.defs.resources import DecpInputs, PublicationTarget, RawStore

    return dg.materialize(
        [*dg.load_assets_from_modules([assets]), *checks_to_run],
        resources={"decp_inputs": DecpInputs(paths=[str(p) for p in sample_files()]),
                   "raw_store": RawStore(root=str(tmp_path / "raw")),
                   "publication_target": PublicationTarget(out_dir=str(out))},
        selection=assets.PIPELINE,
        raise_on_error=False,
    )


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_check_passes_on_the_sample_and_publication_is_materialised(tmp_path):
    from pipelines.defs import checks

    result = _materialize(tmp_path, tmp_path / "published", checks.ALL_CHECKS)
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {f"{kind}_{t}" for kind in ("schema", "regles_metier") for t in schemas.TABLES}
    assert all(e.passed for e in evaluations.values())
    assert evaluations["regles_metier_titulaires"].metadata["non_evaluees"].value == []
    assert dg.AssetKey("publication") in {m.asset_key for m in result.get_asset_materialization_events()}


def test_blocking_rule_failure_stops_the_publication(tmp_path, monkeypatch, tables):
    """Only the GX checks run, so the business-rule check alone is what stops the publication."""
    from pipelines.defs import checks
    from pipelines.publish import publish

    out = tmp_path / "published"
    publish(tables, out, inputs=[])
    before = _snapshot(out)
    assert "datapackage.json" in before

    classify = pipeline.classify_marches

    def broken(frame: pd.DataFrame) -> pd.DataFrame:
        classified = classify(frame)
        classified.loc[classified.index[0], ["innovation_score", "innovant"]] = [2.0, True]
        return classified

    monkeypatch.setattr(pipeline, "classify_marches", broken)
    result = _materialize(tmp_path, out, checks.QUALITY_CHECKS)

    assert not result.success
    materialized = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert "marches" in materialized
    assert not materialized & {"publication", "indicateurs", "references"}
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == "regles_metier_marches")
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert [f["regle"] for f in evaluation.metadata["echecs"].value] == ["marches.innovation_score.bornes"]
    assert _snapshot(out) == before
