"""A text column's distinct values and each row's code among them, found in Arrow: pandas' factorize first makes
every value of an Arrow-backed column a Python object (about a second per million values here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def dictionary_codes(values: pd.Series) -> tuple[np.ndarray, pa.Array] | None:
    """For an Arrow-backed text column: each row's code among its distinct values (-1 where missing) and those
    values, in order of first appearance, as pandas' factorize gives them. None for any other column."""
    if not isinstance(values.array, pd.arrays.ArrowStringArray):
        return None
    array = pa.array(values.array)
    encoded = pc.dictionary_encode(array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.intp, copy=False)
    return codes, encoded.dictionary
