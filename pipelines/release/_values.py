"""Missing values, booleans and numbers as plain Python values, shared by the JSON and XLSX writers."""

from __future__ import annotations

import decimal
import math
import numbers

import numpy as np
import pandas as pd

NOT_SCALAR = object()


def plain_scalar(value):
    """None for every kind of missing (NaN and infinities too: neither JSON nor a .xlsx cell has them), a bool,
    an int or a float; NOT_SCALAR for anything else (text, dates, containers), left to the caller."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, (float, np.floating, decimal.Decimal)):
        number = float(value)
        return number if math.isfinite(number) else None
    return NOT_SCALAR
