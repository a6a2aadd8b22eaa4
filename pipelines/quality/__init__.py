"""Data quality checks on the published tables (plain modules, no Dagster import).

- ``rules``: the suite of every published table (``schemas.TABLES``) as plain data: the Table Schema's
  constraints plus business rules, each with a severity, ``bloquant`` or ``avertissement``.
- ``expectations``: runs a suite with Great Expectations 1.x: ``validate_table(name, frame, context)`` →
  ``Report``; ``blocking_failures(tables)`` → human lines. GX itself is imported lazily, inside the first
  validation, so importing this package stays cheap.
"""

from .expectations import (
    AVERTISSEMENT,
    BLOQUANT,
    ExpectationReport,
    Failure,
    Report,
    blocking_failures,
    preload,
    validate_marches,
    validate_table,
    validate_tables,
)
from .rules import TABLES, Rule, table_rules

__all__ = [
    "AVERTISSEMENT",
    "BLOQUANT",
    "TABLES",
    "ExpectationReport",
    "Failure",
    "Report",
    "Rule",
    "blocking_failures",
    "preload",
    "table_rules",
    "validate_marches",
    "validate_table",
    "validate_tables",
]
