"""The writers take each column's Arrow data as is; the bytes must be those of the generic conversion through
Python objects (the former path), whatever the values: missing ones, NaN, exponents, dates with a time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipelines import writers
from pipelines.arrow_codes import arrow_strings
from pipelines.tables import conform


def _generic(frame: pd.DataFrame, table: str) -> pa.Table:
    """The conversion through Python objects, column by column (what every column took before)."""
    schema = writers.arrow_schema(table)
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


def _odd_marches(rows: int = 12) -> pd.DataFrame:
    amounts = [150000.0, None, float("nan"), 1e16, 99999999999.99, 1.5e-7, 0.1, -0.0, 123456789012.5, 2.0 ** 70,
               200.0, 42.42]
    frame = pd.DataFrame({
        "uid": [f"2134567890001{i:02d}_M{i}" for i in range(rows)],
        "objet": ["Étude « innovante »", None, "", "a,b", 'guillemet "x"', "ligne\nsuite"] * (rows // 6),
        "montant": pd.array(amounts[:rows], dtype="Float64"),
        "innovation_score": pd.array([0.5, None] * (rows // 2), dtype="Float64"),
        "date_notification": ["2024-01-31", None, "2019-12-25", "n'importe", "2024-02-29", "1999-01-01"] * (rows // 6),
        "nb_titulaires": pd.array([1, None, 3, 0, 2, 5] * (rows // 6), dtype="Int64"),
        "innovant": pd.array([True, False, None] * (rows // 3), dtype="boolean"),
    })
    return conform(frame, "marches")


def test_native_columns_give_the_generic_arrow_table():
    frame = _odd_marches()
    assert writers.to_arrow(frame, "marches").equals(_generic(frame, "marches"))


def test_csv_and_parquet_bytes_are_those_of_the_generic_conversion(tmp_path, monkeypatch):
    frame = _odd_marches()
    writers.write_csv(frame, tmp_path / "fast.csv", "marches")
    writers.write_parquet(frame, tmp_path / "fast.parquet", "marches")
    monkeypatch.setattr(writers, "to_arrow", _generic)
    writers.write_csv(frame, tmp_path / "generic.csv", "marches")
    writers.write_parquet(frame, tmp_path / "generic.parquet", "marches")
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "generic.csv").read_bytes()
    assert (tmp_path / "fast.parquet").read_bytes() == (tmp_path / "generic.parquet").read_bytes()
    text = (tmp_path / "fast.csv").read_text(encoding="utf-8")
    assert "10000000000000000" in text and "99999999999.99" in text and "0.00000015" in text
    assert "e+" not in text and "nan" not in text


@pytest.mark.parametrize("values, expected", [
    ([1e16, None, 0.5, 1180591620717411303424.0], ["10000000000000000", None, "0.5", "1180591620717411300000"]),
    ([150000.0, -0.0, 1e-5], ["150000", "-0", "0.00001"]),
])
def test_plain_decimal_never_writes_an_exponent(values, expected):
    assert writers._plain_decimal(pa.chunked_array([pa.array(values, type=pa.float64())])).to_pylist() == expected


def test_dates_with_a_time_and_object_columns_take_the_generic_path():
    frame = _odd_marches()
    frame["date_notification"] = pd.to_datetime(["2024-01-31 13:45"] * len(frame)).astype("datetime64[s]")
    frame["nb_titulaires"] = pd.Series([1, 2.0, None, np.nan] * (len(frame) // 4), dtype="object")
    assert writers.to_arrow(frame, "marches").equals(_generic(frame, "marches"))


def test_empty_table():
    frame = conform(pd.DataFrame(), "marches")
    table = writers.to_arrow(frame, "marches")
    assert table.num_rows == 0 and table.schema.equals(writers.arrow_schema("marches"))


def test_plain_decimal_equals_numpy_positional_formatting_on_random_values():
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.lognormal(10, 4, 20_000), -rng.lognormal(3, 6, 20_000), rng.random(20_000),
                             np.round(rng.lognormal(8, 2, 20_000), 2), 10.0 ** rng.integers(-12, 25, 2_000),
                             [0.0, -0.0, np.inf, -np.inf, 5e-324, 1.7976931348623157e308]])
    expected = [np.format_float_positional(v, trim="-") for v in values]
    assert writers._plain_decimal(pa.chunked_array([pa.array(values[:50_000]), pa.array(values[50_000:])])) \
        .to_pylist() == expected


def test_columns_concatenated_from_several_frames_give_the_generic_arrow_table():
    # Each column then holds several Arrow chunks (the batches of the files read, the history state's pieces).
    frame = pd.concat([_odd_marches(), _odd_marches(6), _odd_marches()], ignore_index=True)
    assert pa.array(frame["objet"].array).num_chunks == 3
    assert writers.to_arrow(frame, "marches").equals(_generic(frame, "marches"))


def test_arrow_strings_of_a_column_in_several_chunks():
    parts = [pd.Series(["b", None, "é"], dtype="string"), pd.Series(["a"], dtype="string"),
             pd.Series([], dtype="string")]
    column = pd.concat(parts, ignore_index=True)
    assert pa.array(column.array).num_chunks > 1
    strings = arrow_strings(column)
    assert isinstance(strings, pa.Array) and strings.type == pa.string()
    assert strings.to_pylist() == ["b", None, "é", "a"]
    assert arrow_strings(pd.Series([3, None], dtype="Int64")).to_pylist() == ["3", None]
