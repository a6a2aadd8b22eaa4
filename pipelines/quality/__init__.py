"""Data quality checks on the published tables (plain modules, no Dagster import).

``expectations``: Great Expectations 1.x business-rule suite on ``marches``. GX itself is imported lazily,
inside ``validate_marches``, so importing this package stays cheap.
"""

from .expectations import ExpectationReport, validate_marches

__all__ = ["ExpectationReport", "validate_marches"]
