"""Keys of rows sorted by their key: a row's key was seen before exactly when it equals the previous row's.

Published tables are sorted by their primary key (marches by uid, titulaires by uid and rang). Their duplicates, and
their uniqueness, then come from comparisons of neighbours, where hashing a million text keys costs about a second.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _ordered(kind: pa.DataType) -> bool:
    """Types whose equality is the grouping's (floats are not: 0.0 and -0.0 are equal, NaN is not itself)."""
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind) \
        or pa.types.is_date(kind) or pa.types.is_boolean(kind)


def repeated_in_order(keys: list[pa.Array | pa.ChunkedArray]) -> np.ndarray | None:
    """When the rows' keys never decrease (in the columns' order of comparison, no null): for each row after the
    first, whether its key equals the previous row's, that is, was seen before. None otherwise."""
    if not keys or len(keys[0]) < 2 or any(key.null_count or not _ordered(key.type) for key in keys):
        return None
    before, after = [key.slice(0, len(key) - 1) for key in keys], [key.slice(1) for key in keys]
    less = np.zeros(len(keys[0]) - 1, dtype=bool)
    equal = np.ones(len(keys[0]) - 1, dtype=bool)
    try:
        for previous, current in zip(before, after):
            less |= equal & pc.less(previous, current).to_numpy(zero_copy_only=False)
            equal &= pc.equal(previous, current).to_numpy(zero_copy_only=False)
    except pa.ArrowNotImplementedError:  # a type without order
        return None
    return equal if (less | equal).all() else None
