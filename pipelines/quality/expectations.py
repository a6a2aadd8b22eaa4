"""Great Expectations 1.x business-rule suite on the ``marches`` table (DESIGN §3: GX called directly, no dagster-ge).

The Table Schema (``schemas/marches.json``, checked by Frictionless) says what a valid *cell* is; this suite says
what a plausible *table* is: unique uid, positive and plausible amounts, plausible dates, vocabularies, the
pipeline's decision always present, identifiers shaped as expected.

One call, ``validate_marches(df)``: an ephemeral GX context, a pandas data source, a whole-dataframe batch, one
ExpectationSuite and one ValidationDefinition run once for the whole suite (one expectation per call would cost
about 0.5 s each; reference/performance.md §4). GX is imported inside the function (the import costs about 3 s),
so importing this module stays cheap.

``mostly`` (the share of non-null values that must pass) is 1.0 unless a comment gives the reason for less.
Null values are never counted by the map expectations: required-ness is the schema's job, except for the few
``not null`` rules below.
"""

from __future__ import annotations

import os
import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from ..decp.records import MAX_DURATION_MONTHS
from ..decp.values import MAX_PLAUSIBLE_AMOUNT

__all__ = ["ExpectationReport", "SUITE_NAME", "validate_marches"]

SUITE_NAME = "marches_regles_metier"
# Severity of an expectation (its ``meta``); failures of the other, blocking, expectations stop publication.
WARNING = "avertissement"


def _enum(field: str) -> tuple[str, ...]:
    """Vocabularies come from the Table Schema (schemas/marches.json), the single source of truth."""
    from ..schemas import fields

    return tuple(next(f for f in fields("marches") if f["name"] == field)["constraints"]["enum"])


DATE_MIN = date(2000, 1, 1)
YEAR_MIN = 2000
# The same ceilings as normalisation, which drops such values with an anomaly code: a failure here is a bug.
MONTANT_MAX_PLAUSIBLE = MAX_PLAUSIBLE_AMOUNT  # 10 billion euros HT: above that, a unit error or a typo
DUREE_MOIS_MAX = MAX_DURATION_MONTHS  # 50 years
# A date cell that cannot be read as a date is replaced by this sentinel, so that it fails the range rule
# (and shows as 0001-01-01 in the unexpected values) instead of disappearing as a null.
_UNREADABLE_DATE = date.min

_PARTIAL_LIST_SIZE = 5


@dataclass(frozen=True)
class ExpectationReport:
    """Outcome of the suite. ``failures``: one dict of strings per failed expectation (expectation, column,
    description, unexpected_count, unexpected_percent, partial_unexpected_list, detail)."""

    success: bool
    evaluated: int
    successful: int
    failures: list[dict[str, str]]
    warnings: list[dict[str, str]] = dataclasses.field(default_factory=list)


def _rules(today: date) -> list[tuple[str, dict[str, Any]]]:
    """The suite as (GX expectation class name, keyword arguments); ``description`` names the business rule."""
    date_max = today + timedelta(days=366)
    return [
        # Primary key: no tolerance.
        ("ExpectColumnValuesToNotBeNull", {"column": "uid", "description": "uid toujours renseigné"}),
        ("ExpectColumnValuesToBeUnique", {"column": "uid", "description": "uid unique (clé primaire)"}),
        # Amounts: the schema says minimum 0.01, so any amount <= 0 is a normalisation bug (no tolerance).
        (
            "ExpectColumnValuesToBeBetween",
            {"column": "montant", "min_value": 0, "strict_min": True, "description": "montant > 0"},
        ),
        (
            "ExpectColumnValuesToBeBetween",
            {"column": "montant_initial", "min_value": 0, "strict_min": True, "description": "montant_initial > 0"},
        ),
        # Amounts above 10 bn EUR exist only as rare framework maxima; more than 1 in 1,000 means a unit
        # error (cents) or a parsing bug.
        (
            "ExpectColumnValuesToBeBetween",
            {
                "column": "montant",
                "max_value": MONTANT_MAX_PLAUSIBLE,
                "mostly": 0.999,
                "description": "montant <= 10 milliards d'euros (tolérance 0,1 %)",
            },
        ),
        # Dates: real DECP carry a few typos (years 1900, 2201, 2921…); 1 in 1,000 is tolerated, more means
        # a parsing bug. Unreadable dates count as out of range.
        (
            "ExpectColumnValuesToBeBetween",
            {
                "column": "date_notification",
                "min_value": DATE_MIN,
                "max_value": date_max,
                "mostly": 0.999,
                "description": f"date_notification entre {DATE_MIN.isoformat()} et {date_max.isoformat()} (tolérance 0,1 %)",
            },
        ),
        (
            "ExpectColumnValuesToBeBetween",
            {
                "column": "annee",
                "min_value": YEAR_MIN,
                "max_value": today.year + 1,
                "mostly": 0.999,
                "description": f"annee entre {YEAR_MIN} et {today.year + 1} (tolérance 0,1 %)",
            },
        ),
        # Durations: multi-decade concessions-like contracts exist but are rare.
        (
            "ExpectColumnValuesToBeBetween",
            {
                "column": "duree_mois",
                "min_value": 0,
                "max_value": DUREE_MOIS_MAX,
                "mostly": 0.999,
                "description": f"duree_mois entre 0 et {DUREE_MOIS_MAX} (tolérance 0,1 %)",
            },
        ),
        # Vocabularies: the normaliser maps every known label, so anything else is a bug (no tolerance).
        (
            "ExpectColumnValuesToBeInSet",
            {"column": "procedure", "value_set": list(_enum("procedure")), "description": "procedure du vocabulaire DECP 2024"},
        ),
        (
            "ExpectColumnValuesToBeInSet",
            {"column": "nature", "value_set": list(_enum("nature")), "description": "nature du vocabulaire DECP 2024"},
        ),
        (
            "ExpectColumnValuesToBeInSet",
            {
                "column": "acheteur_categorie",
                "value_set": list(_enum("acheteur_categorie")),
                "description": "acheteur_categorie parmi etat, collectivite, autre",
            },
        ),
        # The pipeline's decision is always there.
        ("ExpectColumnValuesToNotBeNull", {"column": "innovant", "description": "innovant toujours renseigné"}),
        (
            "ExpectColumnValuesToBeInSet",
            {"column": "innovant", "value_set": [True, False], "description": "innovant booléen"},
        ),
        (
            "ExpectColumnValuesToNotBeNull",
            {"column": "innovation_score", "description": "innovation_score toujours renseigné"},
        ),
        (
            "ExpectColumnValuesToBeBetween",
            {"column": "innovation_score", "min_value": 0, "max_value": 1, "description": "innovation_score entre 0 et 1"},
        ),
        (
            "ExpectColumnValuesToBeInSet",
            {
                "column": "marche_innovant_declare",
                "value_set": [True, False],
                "description": "marche_innovant_declare booléen ou vide",
            },
        ),
        # Buyer SIRET: real files carry malformed ones (13 digits, spaces, letters); up to 5 % is tolerated
        # and shows up here, above that the id mapping is broken.
        (
            "ExpectColumnValuesToMatchRegex",
            {
                "column": "acheteur_id",
                "regex": r"^[0-9]{14}$",
                "mostly": 0.95,
                "description": "acheteur_id SIRET à 14 chiffres (tolérance 5 %)",
                # A warning, not a gate: one buyer publishing a malformed SIRET is the buyer's defect, already
                # flagged per row (anomalies: acheteur_siret_invalide), and must not stop the publication.
                "meta": {"severite": WARNING},
            },
        ),
        # CPV: the normaliser strips the check digit; the schema has the same pattern (no tolerance).
        (
            "ExpectColumnValuesToMatchRegex",
            {"column": "code_cpv", "regex": r"^[0-9]{8}$", "description": "code_cpv à 8 chiffres"},
        ),
    ]


def _to_date(value: Any) -> date | None:
    if isinstance(value, datetime):  # also pandas.Timestamp
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return _UNREADABLE_DATE
    return _UNREADABLE_DATE


def _as_dates(series: Any) -> Any:
    """Any date-like column (ISO strings, datetime64 of any unit, date/Timestamp objects) as ``datetime.date``
    objects, so that GX compares it with ``date`` bounds; years beyond pandas' nanosecond range (2921) survive."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series.dt.date.astype(object).where(series.notna(), None)
    present = series[series.notna()]
    mapping = {value: _to_date(value) for value in pd.unique(present)}
    return series.map(mapping).astype(object).where(series.notna(), None)


def _prepare(df: Any, rules: list[tuple[str, dict[str, Any]]]) -> Any:
    """Only the columns the suite reads; dates as ``date`` objects. An empty frame gets the missing columns
    (so that every rule is evaluated and passes); a non-empty frame without a column fails that column's rules."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"validate_marches attend un pandas.DataFrame, pas {type(df).__name__}")
    columns = list(dict.fromkeys(kwargs["column"] for _, kwargs in rules))
    data = df[[c for c in columns if c in df.columns]].copy()
    if len(data) == 0:
        for column in columns:
            if column not in data.columns:
                data[column] = pd.Series([], dtype=object)
    if "date_notification" in data.columns:
        data["date_notification"] = _as_dates(data["date_notification"])
    return data


def _short(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def _exception_message(info: Any) -> str:
    """GX puts either {exception_message: …} or {metric id: {exception_message: …}} in exception_info."""
    if not isinstance(info, dict):
        return ""
    if info.get("exception_message"):
        return str(info["exception_message"])
    for value in info.values():
        if isinstance(value, dict) and value.get("exception_message"):
            return str(value["exception_message"])
    return ""


def _failure(result: Any) -> dict[str, str]:
    config = result.expectation_config
    kwargs = config.kwargs or {}
    res = result.result or {}
    failure = {
        "expectation": str(config.type),
        "column": str(kwargs.get("column", "")),
        "description": str(getattr(config, "description", None) or ""),
        "unexpected_count": "" if res.get("unexpected_count") is None else _short(res["unexpected_count"]),
        "unexpected_percent": "" if res.get("unexpected_percent") is None else f"{res['unexpected_percent']:.4g}",
        "partial_unexpected_list": ", ".join(_short(v) for v in (res.get("partial_unexpected_list") or [])),
        "detail": "",
    }
    message = _exception_message(result.exception_info)
    if message:
        failure["detail"] = message[:300]
    elif failure["unexpected_count"]:
        failure["detail"] = (
            f"{failure['unexpected_count']} valeur(s) hors règle ({failure['unexpected_percent']} % des valeurs "
            f"renseignées), par exemple : {failure['partial_unexpected_list']}"
        )
    return failure


def validate_marches(df: Any, *, today: date | None = None) -> ExpectationReport:
    """Run the business-rule suite on the ``marches`` DataFrame; ``today`` (default: the current date) bounds
    the plausible dates (today + 1 year) and years (today's year + 1)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    rules = _rules(today or date.today())
    data = _prepare(df, rules)

    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch_definition = (
        context.data_sources.add_pandas(name="achats_innovants")
        .add_dataframe_asset(name="marches")
        .add_batch_definition_whole_dataframe("marches_complet")
    )
    suite = context.suites.add(
        gx.ExpectationSuite(
            name=SUITE_NAME,
            expectations=[getattr(gx.expectations, name)(**kwargs) for name, kwargs in rules],
        )
    )
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{SUITE_NAME}_validation", data=batch_definition, suite=suite)
    )
    result = validation.run(
        batch_parameters={"dataframe": data},
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": _PARTIAL_LIST_SIZE},
    )

    statistics = result.statistics or {}
    failed = [r for r in result.results if not r.success]
    order = {kwargs["description"]: i for i, (_, kwargs) in enumerate(rules)}
    warning_rules = {kwargs["description"] for _, kwargs in rules if kwargs.get("meta", {}).get("severite") == WARNING}
    failures = sorted((_failure(r) for r in failed), key=lambda f: order.get(f["description"], len(order)))
    return ExpectationReport(
        success=not any(f["description"] not in warning_rules for f in failures),
        evaluated=int(statistics.get("evaluated_expectations", len(result.results))),
        successful=int(statistics.get("successful_expectations", 0)),
        failures=[f for f in failures if f["description"] not in warning_rules],
        warnings=[f for f in failures if f["description"] in warning_rules],
    )
