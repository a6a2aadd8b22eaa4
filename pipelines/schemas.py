"""Table Schemas of the published tables (``schemas/*.json``) and Frictionless validation of a CSV.

Plain module (no Dagster import): asset checks, the publisher and the tests call it.

- ``SCHEMAS_DIR``: folder of the ``<table>.json`` Table Schemas; environment variable ``ACHATS_SCHEMAS_DIR``,
  default the repository's ``schemas/`` folder.
- ``TABLES``: the published tables, in publication order.
- ``load_schema`` / ``fields`` / ``field_names`` / ``primary_key``: read the descriptors (cached per file).
- ``validate_csv``: row-wise Frictionless v5 validation of one published CSV against its schema. It is slow
  (about 25k rows/s, reference/performance.md §3): run it on small files, samples or in CI, not on the hot path.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "SCHEMAS_DIR",
    "TABLES",
    "SchemaReport",
    "field_names",
    "fields",
    "load_schema",
    "primary_key",
    "validate_csv",
]

SCHEMAS_DIR: Path = Path(
    os.environ.get("ACHATS_SCHEMAS_DIR") or Path(__file__).resolve().parents[1] / "schemas"
).resolve()

TABLES: tuple[str, ...] = ("marches", "avis", "titulaires", "concessions", "indicateurs", "references", "rejets",
                           "qualite")

MAX_REPORTED_ERRORS = 20
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class SchemaReport:
    """Outcome of ``validate_csv``: ``errors`` holds at most 20 short lines (row, field, message)."""

    valid: bool
    row_count: int
    error_count: int
    errors: list[str]
    table: str


def _schema_path(name: str) -> Path:
    if not _NAME.match(name):
        raise ValueError(f"nom de table invalide : {name!r}")
    return Path(SCHEMAS_DIR) / f"{name}.json"


@functools.lru_cache(maxsize=32)
def _read_descriptor(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        descriptor = json.load(handle)
    if not isinstance(descriptor, dict) or not isinstance(descriptor.get("fields"), list):
        raise ValueError(f"{path} n'est pas un Table Schema (objet JSON avec une liste « fields » attendu)")
    return descriptor


def load_schema(name: str) -> dict[str, Any]:
    """Return the Table Schema descriptor of table ``name`` (read once per file; a fresh copy each call).

    Raises FileNotFoundError when ``SCHEMAS_DIR/<name>.json`` does not exist.
    """
    path = _schema_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"schéma introuvable pour la table {name!r} : {path}")
    return copy.deepcopy(_read_descriptor(str(path)))


def fields(name: str) -> list[dict[str, Any]]:
    """Field descriptors of table ``name``, in column order."""
    return load_schema(name)["fields"]


def field_names(name: str) -> list[str]:
    """Column names of table ``name``, in the published order."""
    return [f["name"] for f in fields(name)]


def primary_key(name: str) -> list[str]:
    """Primary key columns of table ``name`` (empty list when the table has none, e.g. ``rejets``)."""
    pk = load_schema(name).get("primaryKey") or []
    return [pk] if isinstance(pk, str) else list(pk)


def _format_error(error: Any, pk: list[str]) -> str:
    """One short human line: where (line of the file, field) and what."""
    d = error.to_descriptor()
    row = d.get("rowNumber")
    field_name = d.get("fieldName")
    kind = d.get("type") or "error"
    note = d.get("note") or d.get("message") or ""
    if kind == "primary-key" and not field_name:
        field_name = ",".join(pk)
    where = []
    if row is not None:
        where.append(f"ligne {row}")
    elif field_name is not None:
        where.append("en-tête")
    else:
        where.append("fichier")
    if field_name:
        where.append(f"champ {field_name}")
    cell = d.get("cell")
    shown = isinstance(cell, str) and kind in ("type-error", "constraint-error") and '"required"' not in note
    value = f" (valeur {cell[:60]!r})" if shown else ""
    if row is None and field_name is None:
        # file-level errors (unreadable, encoding, scheme): the full message says what happened
        return f"{', '.join(where)}: {kind}: {d.get('message') or note}"
    return f"{', '.join(where)}{value}: {kind}: {note}"


def validate_csv(csv_path: str | os.PathLike[str], name: str, limit_errors: int = 1000) -> SchemaReport:
    """Validate one published CSV (UTF-8, comma, header row) against the Table Schema of table ``name``.

    Checks labels (names and order), types, constraints and the primary key. Foreign keys to another
    resource (``titulaires.uid`` → ``marches.uid``) need the whole data package and are left to the
    datapackage validation. Never raises for a bad or unreadable file: that is an invalid report.
    ``error_count`` stops at ``limit_errors`` (Frictionless stops reading there).
    """
    from frictionless import Dialect, FrictionlessException, Resource, Schema, formats

    descriptor = load_schema(name)
    pk = primary_key(name)
    descriptor["foreignKeys"] = [
        fk for fk in descriptor.get("foreignKeys") or [] if not (fk.get("reference") or {}).get("resource")
    ]
    if not descriptor["foreignKeys"]:
        del descriptor["foreignKeys"]
    schema = Schema.from_descriptor(descriptor)

    path = Path(csv_path).resolve()
    try:
        # Frictionless v5 refuses absolute paths as unsafe: give the folder as (trusted) basepath.
        resource = Resource(
            path=path.name,
            basepath=str(path.parent),
            schema=schema,
            format="csv",
            encoding="utf-8-sig",  # tolerates a BOM
            dialect=Dialect(controls=[formats.CsvControl(delimiter=",")]),
        )
        report = resource.validate(limit_errors=limit_errors)
    except Exception as exc:  # noqa: BLE001 - an unreadable file is an invalid report, never a crash
        detail = exc.error.message if isinstance(exc, FrictionlessException) else str(exc)
        message = f"fichier: {type(exc).__name__}: {detail}"
        return SchemaReport(table=name, valid=False, row_count=0, error_count=1, errors=[message[:500]])

    errors = [e for task in report.tasks for e in task.errors] + list(report.errors)
    rows = sum(int(task.stats.get("rows") or 0) for task in report.tasks)
    lines = [_format_error(e, pk) for e in errors[:MAX_REPORTED_ERRORS]]
    return SchemaReport(
        table=name,
        valid=bool(report.valid) and not errors,
        row_count=rows,
        error_count=len(errors),
        errors=lines,
    )
