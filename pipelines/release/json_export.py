"""JSON export of the indicators, for web pages and notebooks that would rather not parse a CSV.

Strict JSON: missing values are ``null`` (never ``NaN``, which JSON does not have and browsers refuse), numbers
are numbers, keys sorted and rows in table order so that the same indicators give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path, PurePath

import numpy as np
import pandas as pd

from ._files import atomic_write_text
from ._values import NOT_SCALAR, plain_scalar


def _json_value(value):
    scalar = plain_scalar(value)
    if scalar is not NOT_SCALAR:
        return scalar
    if isinstance(value, np.datetime64):
        value = None if np.isnat(value) else pd.Timestamp(value)
        if value is None:
            return None
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        # Midnight timestamps are Table Schema dates: publish "2025-03-01", as the CSV does.
        return value.date().isoformat() if value.time() == dt.time(0) and value.tzinfo is None \
            else value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_json_value(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    raise TypeError(f"valeur de type {type(value).__name__} non convertible en JSON : {value!r:.80}")


def write_indicators_json(indicateurs: pd.DataFrame, path: Path, metadata: dict) -> None:
    """Write ``{"metadata": {...}, "indicateurs": [one object per row]}`` to ``path`` (UTF-8, atomic).

    ``metadata`` is copied as given (dates become ISO text); ``nb_lignes`` and ``champs`` (column names, in table
    order) are added unless given."""
    path = Path(path)
    columns = [str(c) for c in indicateurs.columns]
    if len(set(columns)) != len(columns):
        raise ValueError(f"{path} : colonnes en double dans les indicateurs ({', '.join(columns)})")
    try:
        meta = _json_value(dict(metadata))
    except TypeError as exc:
        raise TypeError(f"{path} : métadonnées : {exc}") from exc
    meta.setdefault("nb_lignes", len(indicateurs))
    meta.setdefault("champs", columns)
    records = []
    for row in indicateurs.itertuples(index=False, name=None):
        try:
            records.append({name: _json_value(value) for name, value in zip(columns, row)})
        except TypeError as exc:
            raise TypeError(f"{path} : ligne {len(records) + 1} : {exc}") from exc
    # allow_nan=False: a NaN that slipped through fails here rather than producing invalid JSON.
    text = json.dumps({"metadata": meta, "indicateurs": records}, ensure_ascii=False, sort_keys=True, indent=2,
                      allow_nan=False)
    atomic_write_text(path, text + "\n")
