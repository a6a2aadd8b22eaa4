"""Columns built from Python values (pipelines/tables.py): Arrow's typed conversion gives what conform's
conversion from objects gives, missing values included."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from pipelines import tables

CASES = {
    "integer": [[1, None, 3, 0, -5, 2**40], [True, 2], [1.0, None], [None, None], []],
    "number": [[1.5, None, float("nan"), 2, 0.0, -3.25, 1e300], [1, 2], [None], []],
    "boolean": [[True, None, False], [1, 0], [None], []],
    "date": [[dt.date(2024, 1, 2), None, dt.date(1900, 12, 31), dt.date(2100, 1, 1)], [None], []],
    "string": [["a", None, "é"], [1, "a"], []],
}


def _by_conform(values: list, kind: str) -> pd.Series:
    dtype = tables._PANDAS_TYPES[kind]
    column = pd.Series(values, dtype="object")
    if dtype.startswith("datetime"):
        return pd.to_datetime(column, errors="coerce").astype(dtype)
    if dtype == "boolean":
        return column.astype("object").where(column.notna(), pd.NA).astype("boolean")
    return column.astype(dtype)


@pytest.mark.parametrize("kind,values", [(kind, values) for kind, lists in CASES.items() for values in lists])
def test_typed_columns_are_what_conform_makes_of_objects(kind, values):
    built = tables._column(values, kind)
    dtype = tables._PANDAS_TYPES[kind]
    converted = built if str(built.dtype) == dtype else _by_conform(list(built), kind)
    pd.testing.assert_series_equal(converted, _by_conform(values, kind), check_exact=True)


def test_typed_columns_skip_the_conversion_from_objects():
    assert str(tables._column([1, None], "integer").dtype) == "Int64"
    assert str(tables._column([1.5, None], "number").dtype) == "Float64"
    assert str(tables._column([True, None], "boolean").dtype) == "boolean"
    assert str(tables._column([dt.date(2024, 5, 1), None], "date").dtype) == "datetime64[s]"
