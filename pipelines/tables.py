"""Normalised rows → the published tables (column names and order come from the Table Schemas)."""

from __future__ import annotations

from operator import itemgetter

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import schemas
from .arrow_codes import arrow_strings
from .decp.ingest import SOURCE

_PANDAS_TYPES = {
    "string": "string",
    "integer": "Int64",
    "number": "Float64",
    "boolean": "boolean",
    "date": "datetime64[s]",
}


def conform(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Columns of the schema, in its order, with nullable dtypes matching its field types."""
    out = pd.DataFrame(index=frame.index)
    for field in schemas.fields(table):
        name, dtype = field["name"], _PANDAS_TYPES.get(field.get("type", "string"), "string")
        column = frame[name] if name in frame else pd.Series(pd.NA, index=frame.index, dtype="object")
        if str(column.dtype) == dtype:  # already conformed (a table conformed again after a step)
            out[name] = column
        elif dtype.startswith("datetime"):
            out[name] = pd.to_datetime(column, errors="coerce").astype(dtype)
        elif dtype == "boolean":
            out[name] = column.astype("object").where(column.notna(), pd.NA).astype("boolean")
        else:
            out[name] = column.astype(dtype)
    return out.reset_index(drop=True)


def _joined_anomalies(rows: list[dict]) -> list[str | None]:
    return ["|".join(sorted(r["_anomalies"])) or None for r in rows]


def _from_rows(rows: list[dict], table: str, computed: dict[str, list]) -> pd.DataFrame:
    """The table's columns taken from the rows' keys (plus ``computed`` ones), one list per column.

    Built column by column rather than ``pd.DataFrame(rows)``: pandas would infer every column of a million dicts
    from Python objects, then ``conform`` would convert it again (4x slower at 200k rows)."""
    present = set().union(*(r.keys() for r in rows)) if rows else set()
    fields = {f["name"]: f.get("type", "string") for f in schemas.fields(table)}
    taken = [name for name in fields if name in present and name not in computed]
    columns = dict(zip(taken, columns_of(rows, taken)))
    columns.update(computed)
    return pd.DataFrame({name: _column(columns[name], kind) for name, kind in fields.items() if name in columns},
                        index=pd.RangeIndex(len(rows)))


def columns_of(rows: list[dict], names: list[str]) -> list[list]:
    """Column lists of ``names`` (None where a row lacks the key): one C-level pass over the rows when every row
    has every key (half the time of a comprehension per column over a million scattered dicts)."""
    if len(names) < 2:
        return [[row.get(name) for row in rows] for name in names]
    getter, columns = itemgetter(*names), [[] for _ in names]
    try:
        # By slices: the rows' tuples of one slice at a time, not a million of them at once.
        for start in range(0, len(rows), _SLICE_ROWS):
            for column, values in zip(columns, zip(*map(getter, rows[start:start + _SLICE_ROWS]))):
                column.extend(values)
    except KeyError:
        return [[row.get(name) for row in rows] for name in names]
    return columns


_SLICE_ROWS = 50_000


def _column(values: list, kind: str) -> pd.Series:
    """A column of Python values in the dtype ``conform`` gives its Table Schema type, built by Arrow from the list
    (pandas' conversions from objects are several times slower); as objects, for ``conform`` to convert, when a
    value is not of the type (text in a number column...)."""
    try:
        if kind == "string":
            return pd.Series(pd.arrays.ArrowStringArray(pa.array(values, type=pa.string())))
        if kind in _ARROW_TYPES:
            # from_pandas: NaN is missing, as conform's conversion from objects takes it.
            return _TYPED[kind](pa.array(values, type=_ARROW_TYPES[kind], from_pandas=True))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    return pd.Series(values, dtype="object")


def _masked(array: pa.Array, fill: object) -> tuple[np.ndarray, np.ndarray]:
    return (np.asarray(array.fill_null(fill).to_numpy(zero_copy_only=False)),
            np.asarray(array.is_null().to_numpy(zero_copy_only=False)))


_ARROW_TYPES = {"integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_(), "date": pa.date32()}
_TYPED = {
    "integer": lambda array: pd.Series(pd.arrays.IntegerArray(*_masked(array, 0))),
    "number": lambda array: pd.Series(pd.arrays.FloatingArray(*_masked(array, 0.0))),
    "boolean": lambda array: pd.Series(pd.arrays.BooleanArray(*_masked(array, False))),
    "date": lambda array: pd.Series(array.cast(pa.timestamp("s")).to_numpy(zero_copy_only=False)),
}


def _by_uid(frame: pd.DataFrame) -> pd.DataFrame:
    # The frame, not the rows, is sorted: after a sort of the dicts every column pass would jump across memory.
    return frame.sort_values("uid", kind="stable") if len(frame) and not in_uid_order(frame["uid"]) else frame


def in_uid_order(uids: pd.Series) -> bool:
    """Whether the uids are already sorted (consolidation hands the contracts over in uid order)."""
    values = arrow_strings(uids)
    if len(values) < 2:
        return True
    if values.null_count:
        return False
    return pc.all(pc.less_equal(values.slice(0, len(values) - 1), values.slice(1))).as_py()


# Columns made from the rows' anomaly codes and suppliers, not taken from their keys.
MARCHES_COMPUTED = frozenset({"anomalies", "titulaires_ids", "nb_titulaires", "source"})


def marches_frame(columns: dict[str, list], anomalies: list, suppliers: list[list[tuple]]) -> pd.DataFrame:
    """The marches columns from lists of values (one per contract, keyed by column name), each contract's set of
    anomaly codes and its suppliers (records.parties): built per file by the process that read it (decp.batch);
    consolidation then picks rows and sets ``nb_versions_fusionnees``."""
    count = len(anomalies)
    columns = {name: values for name, values in columns.items() if name not in MARCHES_COMPUTED}
    columns.update({
        "anomalies": ["|".join(sorted(codes)) or None for codes in anomalies],
        "titulaires_ids": ["|".join(p[0] for p in found if p[0]) or None for found in suppliers],
        "nb_titulaires": [len(found) for found in suppliers],
        "source": [SOURCE] * count,
    })
    fields = {f["name"]: f.get("type", "string") for f in schemas.fields("marches")}
    frame = pd.DataFrame({name: _column(columns[name], kind) for name, kind in fields.items() if name in columns},
                         index=pd.RangeIndex(count))
    if count:
        frame["annee"] = pd.to_datetime(frame["date_notification"]).dt.year.astype("Int64")
    return conform(frame, "marches")


def marches_table(kept: pd.DataFrame) -> pd.DataFrame:
    """The published marches table from the consolidated rows (columns of ``marches_frame``)."""
    return conform(_by_uid(kept), "marches")


LINK_NAMES = ["rang", "titulaire_id", "titulaire_type_identifiant", "titulaire_nom"]


def links_of(suppliers: list[list[tuple]]) -> pd.DataFrame:
    """Each contract's suppliers (records.parties) in order, one line each; ``_ligne`` is the contract's number."""
    links = [(line, rank, ident, kind, name)
             for line, found in enumerate(suppliers) for rank, (ident, kind, name) in enumerate(found, start=1)]
    columns = [list(values) for values in zip(*links)] if links else [[] for _ in range(len(LINK_NAMES) + 1)]
    frame = pd.DataFrame({name: _column(values, "string") for name, values in zip(LINK_NAMES[1:], columns[2:])})
    frame.insert(0, "rang", pd.array(columns[1], dtype="Int64"))
    frame.insert(0, "_ligne", np.asarray(columns[0], dtype=np.int64))
    return frame


def uid_order(uids: pd.Series) -> np.ndarray:
    """Row numbers in uid order (stable; byte order of the UTF-8 text, which is the code points' order)."""
    return np.asarray(pc.sort_indices(arrow_strings(uids)))


def titulaires_table(uids: pd.Series, links: pd.DataFrame) -> pd.DataFrame:
    """The published titulaires table: ``links`` (links_of) of the contracts whose uid is ``uids[_ligne]``,
    sorted by uid and rank."""
    lines = links["_ligne"].to_numpy()
    # By each uid's place in sorted order, then rank: integers sorted, not two million strings.
    place = np.arange(len(uids))
    if not in_uid_order(uids):
        place[uid_order(uids)] = np.arange(len(uids))
    order = np.lexsort((links["rang"].to_numpy(dtype=np.int64), place[lines]))
    frame = pd.DataFrame({"uid": uids.take(lines[order]).reset_index(drop=True)})
    for name in LINK_NAMES:
        frame[name] = links[name].take(order).reset_index(drop=True)
    return conform(frame, "titulaires")


def concessions_table(rows: list[dict]) -> pd.DataFrame:
    frame = _from_rows(rows, "concessions", {"anomalies": _joined_anomalies(rows), "source": [SOURCE] * len(rows)})
    if rows:
        frame["annee"] = pd.to_datetime(frame["date_signature"]).dt.year.astype("Int64")
    return conform(_by_uid(frame), "concessions")


def rejets_table(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=schemas.field_names("rejets"))
    return conform(frame.sort_values(["fichier", "position"], kind="stable", na_position="first"), "rejets")


def avis_table(rows: list[dict], merged: list[tuple[str, str]]) -> pd.DataFrame:
    """Notices, one row each; ``avis_lies`` lists the publications merged into a row (see notices.dedup)."""
    linked: dict[str, list[str]] = {}
    for dropped, kept in merged:
        if dropped != kept:
            linked.setdefault(kept, []).append(dropped)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return conform(frame, "avis").assign(structured_signals=pd.Series(dtype="string"))
    frame["avis_lies"] = [("|".join(sorted(set(linked[i]))) if i in linked else None) for i in frame["id_avis"]]
    frame = frame.sort_values("id_avis", kind="stable").reset_index(drop=True)
    table = conform(frame, "avis")
    # Not published: the classifier turns these codes into innovation_signaux.
    table["structured_signals"] = frame["structured_signals"].astype("string")
    return table
