"""Asset checks: Table Schema conformance (Frictionless, blocking) and business rules (Great Expectations)."""

import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd

from .. import schemas
from ..quality import validate_marches
from ..writers import write_csv


def _schema_check(asset_name: str, table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset_name, name=f"schema_{table}", blocking=True,
                    description=f"The table conforms to schemas/{table}.json (Frictionless, every row).")
    def _check(frame: pd.DataFrame) -> dg.AssetCheckResult:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"{table}.csv"
            write_csv(frame, path, table)
            report = schemas.validate_csv(path, table)
        return dg.AssetCheckResult(
            passed=report.valid,
            metadata={"lignes": report.row_count, "erreurs": report.error_count,
                      "exemples": dg.MetadataValue.md("\n".join(f"- {e}" for e in report.errors) or "aucune")},
        )

    return _check


SCHEMA_CHECKS = [_schema_check(table, table) for table in schemas.TABLES]


@dg.asset_check(asset="marches", blocking=True,
                description="Business rules (Great Expectations suite): unique uid, amounts > 0, dates, vocabularies.")
def regles_metier_marches(marches: pd.DataFrame) -> dg.AssetCheckResult:
    report = validate_marches(marches)
    return dg.AssetCheckResult(
        passed=report.success,
        metadata={
            "attentes_evaluees": report.evaluated,
            "attentes_reussies": report.successful,
            "echecs": dg.MetadataValue.json(report.failures),
            "avertissements": dg.MetadataValue.json(report.warnings),
        },
    )
