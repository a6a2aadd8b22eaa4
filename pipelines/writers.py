"""Table writers driven by the Table Schemas: column types in CSV and Parquet come from ``schemas/``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import schemas


_ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
}


def arrow_schema(table: str) -> pa.Schema:
    return pa.schema([(f["name"], _ARROW_TYPES.get(f.get("type", "string"), pa.string())) for f in schemas.fields(table)])


def to_arrow(frame: pd.DataFrame, table: str) -> pa.Table:
    schema = arrow_schema(table)
    columns = []
    for field in schema:
        series = frame[field.name]
        if pa.types.is_date32(field.type):
            values = pd.to_datetime(series, errors="coerce")
            columns.append(pa.array(values.dt.date.where(values.notna(), None), type=field.type, from_pandas=True))
        else:
            columns.append(pa.array(series.astype("object").where(series.notna(), None), type=field.type,
                                    from_pandas=True))
    return pa.Table.from_arrays(columns, schema=schema)


def _plain_decimal(values: pa.ChunkedArray) -> pa.Array:
    """Numbers without exponent (``99999999999.99``, not ``9.999e+10``): spreadsheets and people read them."""
    floats = values.to_numpy(zero_copy_only=False)
    text = [None if np.isnan(v) else np.format_float_positional(v, trim="-") for v in floats]
    return pa.array(text, type=pa.string())


def write_csv(frame: pd.DataFrame, path: Path, table: str) -> None:
    arrow = to_arrow(frame, table)
    for index, field in enumerate(arrow.schema):
        if pa.types.is_floating(field.type):
            arrow = arrow.set_column(index, field.name, _plain_decimal(arrow.column(index)))
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(arrow, path, write_options=pacsv.WriteOptions(quoting_style="needed"))


def write_parquet(frame: pd.DataFrame, path: Path, table: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(to_arrow(frame, table), path, compression="zstd")


