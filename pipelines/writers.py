"""Table writers driven by the Table Schemas: column types in CSV and Parquet come from ``schemas/``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
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
    return pa.Table.from_arrays([_arrow_column(frame[field.name], field.type) for field in schema], schema=schema)


# The dtypes ``tables.conform`` gives each Table Schema type: their Arrow data is taken as is (a cast at most),
# without a round trip through Python objects (10x slower on a million rows).
_NATIVE = {"string": pa.types.is_string, "Int64": pa.types.is_int64, "Float64": pa.types.is_floating,
           "boolean": pa.types.is_boolean, "datetime64[s]": pa.types.is_date32}


def _arrow_column(series: pd.Series, arrow_type: pa.DataType) -> pa.ChunkedArray:
    expected = _NATIVE.get(str(series.dtype))
    if expected is not None and expected(arrow_type) and len(series):
        try:
            native = pa.array(series.array)  # a ChunkedArray for a column concatenated from several: kept as is
            # (pa.chunked_array([it]) would read its values one by one through Python)
            native = (native if isinstance(native, pa.ChunkedArray) else pa.chunked_array([native])).cast(
                arrow_type)  # a date with a time fails
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        else:
            if pa.types.is_floating(arrow_type):  # NaN is missing, as ``from_pandas`` reads it below
                native = pc.if_else(pc.is_nan(native), pa.scalar(None, arrow_type), native)
            return native
    if pa.types.is_date32(arrow_type):
        values = pd.to_datetime(series, errors="coerce")
        return pa.chunked_array([pa.array(values.dt.date.where(values.notna(), None), type=arrow_type,
                                          from_pandas=True)], type=arrow_type)
    return pa.chunked_array([pa.array(series.astype("object").where(series.notna(), None), type=arrow_type,
                                      from_pandas=True)], type=arrow_type)


def _plain_decimal(values: pa.ChunkedArray) -> pa.Array:
    """Numbers without exponent (``99999999999.99``, not ``9.999e+10``): spreadsheets and people read them.

    Arrow writes the shortest round-trip digits, as numpy does, but switches to an exponent for large and small
    magnitudes: only those (rare) values are formatted again, positionally."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    text = pc.cast(values, pa.string())
    exponent = pc.fill_null(pc.match_substring(text, "e"), False)
    if not pc.any(exponent).as_py():
        return text
    floats = values.filter(exponent).to_numpy(zero_copy_only=False)
    fixed = pa.array([np.format_float_positional(v, trim="-") for v in floats], type=pa.string())
    return pc.replace_with_mask(text, exponent, fixed)


def write_csv(frame: pd.DataFrame | pa.Table, path: Path, table: str) -> None:
    """``frame``: the table, or its ``to_arrow`` conversion (converted once for all its formats)."""
    arrow = frame if isinstance(frame, pa.Table) else to_arrow(frame, table)
    for index, field in enumerate(arrow.schema):
        if pa.types.is_floating(field.type):
            arrow = arrow.set_column(index, field.name, _plain_decimal(arrow.column(index)))
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(arrow, path, write_options=pacsv.WriteOptions(quoting_style="needed"))


def write_parquet(frame: pd.DataFrame | pa.Table, path: Path, table: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(frame if isinstance(frame, pa.Table) else to_arrow(frame, table), path, compression="zstd")


