"""Asset checks: Table Schema conformance (Frictionless, blocking) and business rules (Great Expectations).

Per published table ``<t>``: ``schema_<t>`` (every row against schemas/<t>.json) and ``regles_metier_<t>`` (the
table's GX suite, pipelines/quality). Both are blocking: when one fails with ERROR severity, Dagster fails the
check's step and skips every downstream asset, ``publication`` included, so the previous publication stays.
A suite whose only failures are warnings (``avertissement``) fails with WARN severity: shown in the UI, the
run goes on.
"""

import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd

from .. import schemas
from ..quality import Report, validate_table
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


def _markdown(report: Report) -> str:
    if not report.failures:
        return "Toutes les attentes sont satisfaites."
    lines = ["| sévérité | règle | colonne | hors règle | détail |", "|---|---|---|---|---|"]
    for f in report.failures:
        detail = f.detail.replace("|", "\\|").replace("\n", " ")
        count = "" if f.unexpected_count is None else str(f.unexpected_count)
        lines.append(f"| {f.severite} | {f.description.replace('|', '/')} | {f.column} | {count} | {detail} |")
    return "\n".join(lines)


def check_result(report: Report) -> dg.AssetCheckResult:
    """Blocking failures → failed, ERROR (the run stops downstream); only warnings → failed, WARN; else passed."""
    blocking, warnings = report.blocking, report.warnings
    return dg.AssetCheckResult(
        passed=not blocking and not warnings,
        severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
        metadata={
            "lignes": dg.MetadataValue.int(report.rows),
            "attentes_evaluees": dg.MetadataValue.int(report.evaluated),
            "attentes_reussies": dg.MetadataValue.int(report.successful),
            "echecs_bloquants": dg.MetadataValue.int(len(blocking)),
            "avertissements": dg.MetadataValue.int(len(warnings)),
            "detail": dg.MetadataValue.md(_markdown(report)),
            "echecs": dg.MetadataValue.json([f.as_dict() for f in report.failures]),
            "non_evaluees": dg.MetadataValue.json(list(report.skipped)),
            "duree_s": dg.MetadataValue.float(report.seconds),
        },
    )


def _rules_check(table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=table, name=f"regles_metier_{table}", blocking=True,
                    description=f"Business rules of {table} (Great Expectations suite, pipelines/quality): "
                                "schema constraints and cross-column rules; blocking or warning per rule.")
    def _check(frame: pd.DataFrame) -> dg.AssetCheckResult:
        return check_result(validate_table(table, frame))

    return _check


@dg.asset_check(asset="titulaires", name="regles_metier_titulaires", blocking=True,
                additional_ins={"marches": dg.AssetIn("marches")},
                description="Business rules of titulaires (Great Expectations suite, pipelines/quality), with the "
                            "cross-table rules on marches: every uid exists in marches, rang <= nb_titulaires.")
def regles_metier_titulaires(titulaires: pd.DataFrame, marches: pd.DataFrame) -> dg.AssetCheckResult:
    return check_result(validate_table("titulaires", titulaires, {"marches": marches}))


# One per published table, in publication order (a new table of schemas.TABLES gets its schema's rules).
QUALITY_CHECKS = [regles_metier_titulaires if table == "titulaires" else _rules_check(table)
                  for table in schemas.TABLES]
ALL_CHECKS = [*SCHEMA_CHECKS, *QUALITY_CHECKS]
_BY_TABLE = dict(zip(schemas.TABLES, QUALITY_CHECKS))
regles_metier_marches = _BY_TABLE["marches"]
regles_metier_avis = _BY_TABLE["avis"]
regles_metier_concessions = _BY_TABLE["concessions"]
regles_metier_indicateurs = _BY_TABLE["indicateurs"]
regles_metier_references = _BY_TABLE["references"]
regles_metier_rejets = _BY_TABLE["rejets"]
