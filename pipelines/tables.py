"""Normalised rows → the published tables (column names and order come from the Table Schemas)."""

from __future__ import annotations

import pandas as pd

from . import schemas
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
        if dtype.startswith("datetime"):
            out[name] = pd.to_datetime(column, errors="coerce").astype(dtype)
        elif dtype == "boolean":
            out[name] = column.astype("object").where(column.notna(), pd.NA).astype("boolean")
        else:
            out[name] = column.astype(dtype)
    return out.reset_index(drop=True)


def _joined_anomalies(rows: list[dict]) -> list[str | None]:
    return ["|".join(sorted(r["_anomalies"])) or None for r in rows]


def marches_table(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows])
    if frame.empty:
        return conform(frame, "marches")
    frame["anomalies"] = _joined_anomalies(rows)
    frame["titulaires_ids"] = ["|".join(p[0] for p in r["_titulaires"] if p[0]) or None for r in rows]
    frame["nb_titulaires"] = [len(r["_titulaires"]) for r in rows]
    frame["annee"] = pd.to_datetime(frame["date_notification"]).dt.year.astype("Int64")
    frame["source"] = SOURCE
    return conform(frame.sort_values("uid", kind="stable"), "marches")


def titulaires_table(rows: list[dict]) -> pd.DataFrame:
    records = [
        {"uid": r["uid"], "rang": rank, "titulaire_id": ident, "titulaire_type_identifiant": kind,
         "titulaire_nom": name}
        for r in rows
        for rank, (ident, kind, name) in enumerate(r["_titulaires"], start=1)
    ]
    frame = pd.DataFrame(records, columns=["uid", "rang", "titulaire_id", "titulaire_type_identifiant", "titulaire_nom"])
    return conform(frame.sort_values(["uid", "rang"], kind="stable"), "titulaires")


def concessions_table(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows])
    if frame.empty:
        return conform(frame, "concessions")
    frame["anomalies"] = _joined_anomalies(rows)
    frame["annee"] = pd.to_datetime(frame["date_signature"]).dt.year.astype("Int64")
    frame["source"] = SOURCE
    return conform(frame.sort_values("uid", kind="stable"), "concessions")


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
