"""A text column in Arrow: its data as one Arrow array, its distinct values and each row's code among them. pandas'
own lookups and factorize first make every value of an Arrow-backed column a Python object (about a second per
million values here)."""

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
    encoded = pc.dictionary_encode(arrow_strings(values))
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.intp, copy=False)
    return codes, encoded.dictionary


def arrow_strings(values: pd.Series | pd.Index) -> pa.Array:
    """The values' Arrow data, as one array of strings (no conversion through Python objects)."""
    data = pa.array(values.astype("string").array)  # a ChunkedArray for a column concatenated from several
    # Chunks combined by Arrow: pa.chunked_array([a ChunkedArray of several chunks]) would read it value by value
    # through Python (1.3 s for the million uids of the history state, which come in 15 chunks).
    return (data.combine_chunks() if isinstance(data, pa.ChunkedArray) else data).cast(pa.string())
