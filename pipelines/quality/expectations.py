"""Great Expectations 1.x business-rule suites of the published tables (DESIGN §3: GX called directly, no dagster-ge).

The Table Schemas (``schemas/*.json``, checked row by row by Frictionless) say what a valid *cell* is; these
suites (``rules.py``) say what a plausible *table* is, with a severity per expectation: ``bloquant`` failures
stop the publication, ``avertissement`` failures are reported.

Pure functions, no Dagster: the CLI (``pipeline.quality_failures``) and the Dagster asset checks
(``defs/checks.py``) call the same ``validate_table``.

Cost (reference/performance.md §4): GX is imported inside the first validation (about 2–3 s), so importing
this module stays cheap. One ephemeral context per process, with one pandas data source; for each group of
rules reading the same columns (see ``_groups``), one dataframe asset, ExpectationSuite and
ValidationDefinition, built on first use and reused (keyed by the rules' content, so a new day's date bounds
get new ones). A validation is then one ``ValidationDefinition.run`` per group (never one per expectation: about
0.5 s each on 1M rows). Measured warm on the real samples: marches 14.6k rows 0.7 s, titulaires 15.7k rows
0.15 s, indicateurs 5k rows 0.3 s, the others under 0.3 s; marches 1M rows about 3 s (GX's batch fingerprint
skipped: ``_skip_fingerprint``).
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd

from .rules import AVERTISSEMENT, BLOQUANT, TABLES, Rule, fingerprint, prepare, table_rules

__all__ = [
    "AVERTISSEMENT",
    "BLOQUANT",
    "ExpectationReport",
    "Failure",
    "Report",
    "blocking_failures",
    "validate_marches",
    "validate_table",
    "validate_tables",
]

WARNING = AVERTISSEMENT  # former name
_PARTIAL_LIST_SIZE = 5


@dataclass(frozen=True)
class Failure:
    """One failed expectation. ``unexpected_count`` is None when GX could not evaluate the rule (e.g. a missing
    column: ``detail`` then holds GX's message)."""

    table: str
    regle: str
    expectation: str
    column: str
    description: str
    severite: str
    unexpected_count: int | None
    unexpected_percent: float | None
    examples: tuple[str, ...]
    detail: str

    @property
    def bloquant(self) -> bool:
        return self.severite == BLOQUANT

    def line(self) -> str:
        """One human line, e.g. ``marches : innovation_score entre 0 et 1 (expect_column_values_to_be_between
        innovation_score) : 1 valeur(s) hors règle (2,5 % des valeurs renseignées), par exemple : 2.0``."""
        return f"{self.table} : {self.description} ({self.expectation} {self.column}) : {self.detail}"

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "regle": self.regle, "expectation": self.expectation, "column": self.column,
                "description": self.description, "severite": self.severite,
                "unexpected_count": self.unexpected_count, "unexpected_percent": self.unexpected_percent,
                "examples": list(self.examples), "detail": self.detail}


@dataclass(frozen=True)
class Report:
    """Outcome of one table's suite. ``failures``: every failed expectation, blocking and warning, in the
    suite's order; ``skipped``: rule ids not evaluated because a table of their context was not given."""

    table: str
    rows: int
    evaluated: int
    successful: int
    failures: tuple[Failure, ...]
    skipped: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def blocking(self) -> list[Failure]:
        return [f for f in self.failures if f.bloquant]

    @property
    def warnings(self) -> list[Failure]:
        return [f for f in self.failures if not f.bloquant]

    @property
    def success(self) -> bool:
        """No blocking failure (warnings do not stop the publication)."""
        return not self.blocking


# ------------------------------------------------------------------------------------------ GX, per process


def _skip_fingerprint(engine_module: Any) -> None:
    """GX's pandas engine hashes every batch frame under ``HASH_THRESHOLD`` bytes (1e9) into a batch marker,
    ``pandas_data_fingerprint``, that nothing here reads: on a national run that was 46 hashings of frames of a
    million rows, 3.4 s of the 10 s the suites take (measured). The threshold is set to 0, so no frame is hashed;
    the checks themselves are untouched. A GX without the constant is refused rather than silently slow."""
    if not hasattr(engine_module, "HASH_THRESHOLD"):
        raise RuntimeError("great_expectations : HASH_THRESHOLD absent du moteur pandas ; revoir _skip_fingerprint")
    engine_module.HASH_THRESHOLD = 0


class _Gx:
    """The process' ephemeral GX context and what was built in it (suites and validation definitions)."""

    def __init__(self) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.execution_engine import pandas_execution_engine

        _skip_fingerprint(pandas_execution_engine)

        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        self.source = self.context.data_sources.add_pandas(name="achats_innovants")
        self.validations: dict[tuple[str, str], Any] = {}

    def validation(self, table: str, suite: list[Rule]) -> Any:
        """The ValidationDefinition of these rules of ``table`` (built on first use, then reused)."""
        key = (table, fingerprint(suite))
        if key not in self.validations:
            name = f"{table}_regles_{key[1]}"
            batch = self.source.add_dataframe_asset(name=name).add_batch_definition_whole_dataframe(name)
            expectations = [
                getattr(self.gx.expectations, rule.expectation)(**rule.kwargs, description=rule.description,
                                                                 meta=rule.meta)
                for rule in suite
            ]
            gx_suite = self.context.suites.add(self.gx.ExpectationSuite(name=name, expectations=expectations))
            self.validations[key] = self.context.validation_definitions.add(
                self.gx.ValidationDefinition(name=f"{name}_validation", data=batch, suite=gx_suite))
        return self.validations[key]


# Below this many rows a table's suite runs in one go: the fixed cost of a run (~5-10 ms, ~0.1 s per empty
# table's group) outweighs what narrow frames save (measured: 8 small tables of a 200k run 3.4 s -> 0.9 s).
_GROUP_MIN_ROWS = 20_000


def _groups(suite: list[Rule]) -> list[list[Rule]]:
    """The suite's rules grouped by the columns they read, in suite order; each group runs on a frame of its
    columns only. GX's pandas engine filters the *whole* batch frame once per expectation (to drop nulls), so
    with one wide frame the cost grows with rules x columns x rows; a run costs about 5-10 ms of fixed overhead.
    Measured on marches (44 rules): 87 rows 0.55 s either way; 14.6k rows 0.74 s → 0.67 s; 146k rows
    3.1 s → 1.4 s; 1M rows 6.8 s grouped."""
    groups: dict[tuple[str, ...], list[Rule]] = {}
    for rule in suite:
        groups.setdefault(tuple(dict.fromkeys(rule.gx_columns)), []).append(rule)
    return list(groups.values())


_STATE: dict[str, _Gx] = {}
_LOCK = threading.Lock()  # a GX context is not thread-safe


def _gx() -> _Gx:
    if "gx" not in _STATE:
        _STATE["gx"] = _Gx()
    return _STATE["gx"]


def preload() -> None:
    """Import GX and build its context in this process ahead of the first validation: processes forked from it
    afterwards inherit both, where each would otherwise import GX again (about 4 s of CPU each, measured)."""
    with _LOCK:
        _gx()


# ------------------------------------------------------------------------------------------------- results


def _short(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, tuple):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        try:
            value = value.item()
        except (ValueError, TypeError):
            pass
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # years and counts checked as float64 (NaN for missing) read as integers
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


def _failure(table: str, result: Any, rule: Rule) -> Failure:
    res = result.result or {}
    count = res.get("unexpected_count")
    percent = res.get("unexpected_percent")
    examples = tuple(_short(v) for v in (res.get("partial_unexpected_list") or []))
    message = _exception_message(result.exception_info)
    if message:
        detail = f"non évaluée : {message[:300]}"
    elif count is not None:
        detail = (f"{count} valeur(s) hors règle ({percent:.4g} % des valeurs renseignées)"
                  + (f", par exemple : {', '.join(examples)}" if examples else ""))
    else:
        observed = res.get("observed_value")
        detail = "échec" + (f" (valeur observée : {_short(observed)})" if observed is not None else "")
    return Failure(table=table, regle=rule.id, expectation=str(result.expectation_config.type), column=rule.colonne,
                   description=rule.description, severite=rule.severite,
                   unexpected_count=None if count is None or message else int(count),
                   unexpected_percent=None if percent is None or message else float(percent),
                   examples=examples, detail=detail)


# --------------------------------------------------------------------------------------------------- API


def _run(gx_state: _Gx, name: str, data: pd.DataFrame, rules: list[Rule], result_format: dict) -> list[Any]:
    columns = [c for c in dict.fromkeys(c for r in rules for c in r.gx_columns) if c in data.columns]
    return gx_state.validation(name, rules).run(batch_parameters={"dataframe": data[columns]},
                                                result_format=result_format).results


_VERDICTS_ONLY = {"result_format": "BOOLEAN_ONLY"}
_DETAILS = {"result_format": "SUMMARY", "partial_unexpected_count": _PARTIAL_LIST_SIZE}


def _run_group(gx_state: _Gx, name: str, data: pd.DataFrame, group: list[Rule], by_id: dict[str, Rule]
               ) -> list[Any]:
    """The group's results: verdicts first (no counts nor examples to gather: a third less time on a national
    table), then the rules that failed run again for what their failure lines say."""
    results = _run(gx_state, name, data, group, _VERDICTS_ONLY)
    failed = [by_id[r.expectation_config.meta["regle"]] for r in results if not r.success]
    if not failed:
        return results
    detailed = {r.expectation_config.meta["regle"]: r for r in _run(gx_state, name, data, failed, _DETAILS)}
    return [detailed.get(r.expectation_config.meta["regle"], r) for r in results]


def validate_table(name: str, frame: pd.DataFrame, context: Mapping[str, pd.DataFrame] | None = None, *,
                   today: date | None = None) -> Report:
    """Run the suite of table ``name`` (one of ``schemas.TABLES``) on ``frame``.

    ``context``: the other published tables, for the cross-table rules (titulaires needs ``marches``); rules
    whose tables are missing are listed in ``Report.skipped``. ``today`` (default: the current date) bounds
    the plausible dates."""
    started = time.perf_counter()
    suite = table_rules(name, today)
    data, active, skipped = prepare(name, frame, suite, context)
    by_id = {rule.id: rule for rule in active}
    results: list[Any] = []
    with _LOCK, warnings.catch_warnings():
        # Table Schema patterns have groups; GX's str.contains warns about them, harmlessly.
        warnings.filterwarnings("ignore", message="This pattern is interpreted as a regular expression")
        gx_state = _gx()
        for group in (_groups(active) if len(data) >= _GROUP_MIN_ROWS else [active] if active else []):
            results.extend(_run_group(gx_state, name, data, group, by_id))
    order = {rule.id: i for i, rule in enumerate(active)}
    failed = [r for r in results if not r.success]
    failures = sorted((_failure(name, r, by_id[r.expectation_config.meta["regle"]]) for r in failed),
                      key=lambda f: order.get(f.regle, len(order)))
    return Report(
        table=name,
        rows=len(frame),
        evaluated=len(results),
        successful=len(results) - len(failed),
        failures=tuple(failures),
        skipped=tuple(r.id for r in skipped),
        seconds=round(time.perf_counter() - started, 3),
    )


def validate_tables(tables: Mapping[str, pd.DataFrame], *, today: date | None = None,
                    names: Iterable[str] | None = None) -> dict[str, Report]:
    """Every known table of ``tables`` (in publication order), each with the others as context; only those of
    ``names`` when given (the others are then context only)."""
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        raise ValueError(f"tables inconnues : {', '.join(unknown)} (tables : {', '.join(TABLES)})")
    wanted = set(tables) if names is None else set(names) & set(tables)
    return {name: validate_table(name, tables[name], tables, today=today) for name in TABLES if name in wanted}


def blocking_failures(tables: Mapping[str, pd.DataFrame], *, today: date | None = None,
                      names: Iterable[str] | None = None) -> list[str]:
    """Blocking failures of every given table (of ``names``, when given), as human lines (empty when the
    publication may go on)."""
    return [f.line() for report in validate_tables(tables, today=today, names=names).values()
            for f in report.blocking]


# ------------------------------------------------------------------------------- former API (marches only)


@dataclass(frozen=True)
class ExpectationReport:
    """Former outcome of ``validate_marches``: dicts of strings; ``failures`` blocking, ``warnings`` the rest."""

    success: bool
    evaluated: int
    successful: int
    failures: list[dict[str, str]]
    warnings: list[dict[str, str]] = field(default_factory=list)


def _as_strings(failure: Failure) -> dict[str, str]:
    return {"expectation": failure.expectation, "column": failure.column, "description": failure.description,
            "severite": failure.severite,
            "unexpected_count": "" if failure.unexpected_count is None else str(failure.unexpected_count),
            "unexpected_percent": "" if failure.unexpected_percent is None else f"{failure.unexpected_percent:.4g}",
            "partial_unexpected_list": ", ".join(failure.examples), "detail": failure.detail}


def validate_marches(df: pd.DataFrame, *, today: date | None = None) -> ExpectationReport:
    """Kept for callers of the former API: ``validate_table("marches", df)`` as an ``ExpectationReport``."""
    report = validate_table("marches", df, today=today)
    return ExpectationReport(success=report.success, evaluated=report.evaluated, successful=report.successful,
                             failures=[_as_strings(f) for f in report.blocking],
                             warnings=[_as_strings(f) for f in report.warnings])
