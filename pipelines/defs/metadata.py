"""Dagster metadata built from the Table Schemas (one source of truth for columns and their descriptions)."""

import dagster as dg
import pandas as pd

from .. import schemas

PREVIEW_ROWS = 10


def column_schema(table: str) -> dg.TableSchema:
    unique = set(schemas.primary_key(table)) if len(schemas.primary_key(table)) == 1 else set()
    columns = []
    for field in schemas.fields(table):
        constraints = field.get("constraints", {})
        columns.append(dg.TableColumn(
            name=field["name"],
            type=field.get("type", "string"),
            description=field.get("description"),
            constraints=dg.TableColumnConstraints(
                nullable=not constraints.get("required", False),
                unique=field["name"] in unique or bool(constraints.get("unique")),
            ),
        ))
    return dg.TableSchema(columns=columns)


def table_metadata(frame: pd.DataFrame, table: str) -> dict:
    preview = frame.head(PREVIEW_ROWS).astype("string").fillna("")
    return {
        "dagster/row_count": dg.MetadataValue.int(len(frame)),
        "dagster/column_schema": column_schema(table),
        "apercu": dg.MetadataValue.md(preview.to_markdown(index=False) if len(preview) else "_table vide_"),
    }
