"""Great Expectations business-rule suite on marches (pipelines.quality.expectations)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pipelines.sirene.categories import BUYER_CATEGORIES
from pipelines.decp import vocabulary

from pipelines.quality import ExpectationReport, validate_marches
from pipelines.quality import expectations as gx_suite
from pipelines.schemas import fields

REPO_ROOT = Path(__file__).resolve().parents[1]
TODAY = date(2026, 11, 26)  # fixed, so that the plausible-date bounds do not move with the calendar
N_RULES = len(gx_suite._rules(TODAY))


def valid_frame(n: int = 40) -> pd.DataFrame:
    """A small plausible marches frame with the nullable dtypes the pipeline uses."""
    procedures = list(vocabulary.PROCEDURES) + [None]
    return pd.DataFrame(
        {
            "uid": [f"21590163800019{2020 + i % 5}F{i:05d}" for i in range(n)],
            "id": [f"{2020 + i % 5}F{i:05d}" for i in range(n)],
            "acheteur_id": ["21590163800019" if i % 2 else "11000201100044" for i in range(n)],
            "acheteur_categorie": ["collectivite" if i % 2 else "etat" for i in range(n)],
            "objet": [f"Lot {i}" for i in range(n)],
            "code_cpv": [None if i % 7 == 0 else "45421000" for i in range(n)],
            "procedure": [procedures[i % len(procedures)] for i in range(n)],
            "nature": ["Marché" if i % 3 else "Marché de partenariat" for i in range(n)],
            "montant": [None if i % 11 == 0 else 40000.0 + 1000 * i for i in range(n)],
            "montant_initial": [40000.0 + 1000 * i for i in range(n)],
            "date_notification": [None if i % 13 == 0 else f"{2020 + i % 5}-0{1 + i % 9}-15" for i in range(n)],
            "annee": pd.array([None if i % 13 == 0 else 2020 + i % 5 for i in range(n)], dtype="Int64"),
            "duree_mois": pd.array([None if i % 5 == 0 else 12 + i for i in range(n)], dtype="Int64"),
            "marche_innovant_declare": pd.array([None if i % 4 == 0 else i % 10 == 1 for i in range(n)], dtype="boolean"),
            "innovant": [i % 10 == 1 for i in range(n)],
            "innovation_score": [0.9 if i % 10 == 1 else 0.05 for i in range(n)],
        }
    )


@pytest.fixture(scope="module")
def run():
    """Runs the suite with a fixed date; the first call pays the GX import (about 3 s) once for the module."""

    def _run(df: pd.DataFrame) -> ExpectationReport:
        return validate_marches(df, today=TODAY)

    return _run


def failed(report: ExpectationReport) -> set[tuple[str, str]]:
    return {(f["expectation"], f["column"]) for f in report.failures}


def test_valid_frame_passes_every_rule(run):
    report = run(valid_frame())
    assert report.failures == []
    assert report.success is True
    assert report.evaluated == report.successful == N_RULES >= 15


def test_duplicated_uid_names_the_uniqueness_rule(run):
    df = valid_frame()
    df.loc[5, "uid"] = df.loc[4, "uid"]
    report = run(df)
    assert not report.success
    assert failed(report) == {("expect_column_values_to_be_unique", "uid")}
    (failure,) = report.failures
    assert failure["unexpected_count"] == "2"
    assert df.loc[4, "uid"] in failure["partial_unexpected_list"]
    assert report.successful == report.evaluated - 1


@pytest.mark.parametrize("amount", [0.0, -1500.0])
def test_amount_not_positive_names_the_amount_rule(run, amount):
    df = valid_frame()
    df.loc[3, "montant"] = amount
    report = run(df)
    assert not report.success
    assert failed(report) == {("expect_column_values_to_be_between", "montant")}
    assert report.failures[0]["description"] == "montant > 0"
    assert report.failures[0]["unexpected_count"] == "1"


@pytest.mark.parametrize(
    "as_type",
    [str, pd.Timestamp, date.fromisoformat],
    ids=["iso-string", "timestamp", "date"],
)
def test_date_in_year_2921_names_the_date_rule(run, as_type):
    df = valid_frame()
    df["date_notification"] = [None if pd.isna(v) else as_type(v) for v in df["date_notification"]]
    df.loc[2, "date_notification"] = as_type("2921-03-15")
    report = run(df)
    assert not report.success
    assert failed(report) == {("expect_column_values_to_be_between", "date_notification")}
    assert "2921-03-15" in report.failures[0]["partial_unexpected_list"]


def test_date_column_of_datetime64_dtype_is_checked(run):
    df = valid_frame()
    df["date_notification"] = pd.to_datetime(df["date_notification"])
    assert run(df).success
    df.loc[1, "date_notification"] = pd.Timestamp("1999-12-31")
    assert failed(run(df)) == {("expect_column_values_to_be_between", "date_notification")}


def test_unreadable_date_counts_as_out_of_range(run):
    df = valid_frame()
    df.loc[1, "date_notification"] = "15/03/2021"
    report = run(df)
    assert failed(report) == {("expect_column_values_to_be_between", "date_notification")}


def test_procedure_outside_the_vocabulary_names_the_procedure_rule(run):
    df = valid_frame()
    df.loc[7, "procedure"] = "Partenariat d'innovation"
    report = run(df)
    assert not report.success
    assert failed(report) == {("expect_column_values_to_be_in_set", "procedure")}
    assert "Partenariat d'innovation" in report.failures[0]["partial_unexpected_list"]


OTHER_RULES = [
    ("nature", "Accord-cadre", "expect_column_values_to_be_in_set"),
    ("acheteur_categorie", "État", "expect_column_values_to_be_in_set"),
    ("annee", 1998, "expect_column_values_to_be_between"),
    ("innovation_score", 1.2, "expect_column_values_to_be_between"),
    ("innovation_score", None, "expect_column_values_to_not_be_null"),
    ("innovant", None, "expect_column_values_to_not_be_null"),
    ("innovant", "oui", "expect_column_values_to_be_in_set"),
    ("marche_innovant_declare", "NC", "expect_column_values_to_be_in_set"),
    ("code_cpv", "45421000-9", "expect_column_values_to_match_regex"),
    ("montant_initial", 0.0, "expect_column_values_to_be_between"),
    ("uid", None, "expect_column_values_to_not_be_null"),
]


def test_other_business_rules_each_name_their_rule(run):
    """One run for all of them (a GX run costs about 0.25 s): each corruption on its own row."""
    df = valid_frame()
    for row, (column, value, _) in enumerate(OTHER_RULES, start=6):
        df[column] = df[column].astype(object)
        df.loc[row, column] = value
    report = run(df)
    assert not report.success
    assert failed(report) == {(expectation, column) for column, _, expectation in OTHER_RULES}
    assert report.evaluated - report.successful == len(OTHER_RULES)


def test_mostly_tolerates_a_few_malformed_siret_but_not_many(run):
    df = valid_frame(40)
    df.loc[0, "acheteur_id"] = "2159016380001"  # 1 of 40 = 2.5 % < 5 %
    assert run(df).success
    df.loc[1:4, "acheteur_id"] = "2159 0163 8000 19"  # 5 of 40 = 12.5 %
    report = run(df)
    # A warning, not a gate: publication goes on, the rule is reported.
    assert report.success and report.failures == []
    assert {(w["expectation"], w["column"]) for w in report.warnings} == {
        ("expect_column_values_to_match_regex", "acheteur_id")}


def test_mostly_on_amount_ceiling_and_duration(run):
    df = valid_frame(40)
    df.loc[1, "montant"] = 2e10  # 1 of 36 amounts is far above the 0.1 % tolerance
    df.loc[2, "duree_mois"] = 1200
    report = run(df)
    assert failed(report) == {
        ("expect_column_values_to_be_between", "montant"),
        ("expect_column_values_to_be_between", "duree_mois"),
    }
    assert "10 milliards" in report.failures[0]["description"]


@pytest.mark.parametrize(
    "frame",
    [pd.DataFrame(), valid_frame().iloc[0:0], pd.DataFrame(columns=["uid", "montant"])],
    ids=["no-columns", "typed-no-rows", "some-columns"],
)
def test_empty_frame_succeeds_with_every_rule_evaluated(run, frame):
    report = run(frame)
    assert report == ExpectationReport(success=True, evaluated=N_RULES, successful=N_RULES, failures=[])


def test_missing_column_in_a_non_empty_frame_fails_that_rule(run):
    report = run(valid_frame().drop(columns=["procedure"]))
    assert failed(report) == {("expect_column_values_to_be_in_set", "procedure")}
    assert "procedure" in report.failures[0]["detail"]


def test_failures_are_strings(run):
    df = valid_frame()
    df.loc[0, "uid"] = df.loc[1, "uid"]
    df.loc[0, "montant"] = -1.0
    report = run(df)
    assert len(report.failures) == 2
    for failure in report.failures:
        assert set(failure) >= {"expectation", "column", "description", "unexpected_count", "partial_unexpected_list", "detail"}
        assert all(isinstance(v, str) for v in failure.values())
        assert failure["detail"]


def test_no_progress_bar_on_stderr(run, capfd):
    run(valid_frame())
    captured = capfd.readouterr()
    assert "Calculating Metrics" not in captured.err + captured.out


def test_vocabularies_match_the_published_schema():
    by_name = {f["name"]: f for f in fields("marches")}
    # What the normaliser produces must be what the schema (and so the suite) accepts.
    assert list(vocabulary.PROCEDURES) == by_name["procedure"]["constraints"]["enum"]
    assert list(vocabulary.NATURES) == by_name["nature"]["constraints"]["enum"]
    assert list(vocabulary.PRICE_FORMS) == by_name["forme_prix"]["constraints"]["enum"]
    assert list(BUYER_CATEGORIES) == by_name["acheteur_categorie"]["constraints"]["enum"]
    for _, kwargs in gx_suite._rules(TODAY):
        assert kwargs["column"] in by_name, kwargs["column"]


def test_importing_the_quality_package_does_not_import_gx():
    code = "import sys, pipelines.quality; print('great_expectations' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
