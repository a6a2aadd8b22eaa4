"""One row per notice: collapse repeated notices and BOAMP copies of TED notices.

Two steps, on rows of ``read_notices`` (``pipelines.notices.ROW_COLUMNS``):

1. Same ``id_avis`` seen more than once (a page fetched twice, overlapping partitions, a TED search response
   listing a notice twice): the most complete row is kept (most non-empty columns; on a tie, the later one in
   input order, i.e. the latest file), and its empty columns are filled from the others. Pair ``(id, id)``.

2. A French notice of famille JOUE is published in BOAMP and in TED. The TED row is kept (its eForms fields
   are structured: SIRET, amounts, innovation codes); the BOAMP row is dropped when it is the same notice:
   - its ``reference_ted`` is the TED row's publication number, or
   - it is of famille JOUE and has the TED row's ``id_procedure`` (ContractFolderID = BOAMP contractfolderid)
     and the same ``type_avis`` (a procedure has a contract notice, corrigenda and award notices under one
     ContractFolderID), published within ``MAX_DAYS_APART`` days of it (the closest one when several are).
   What the BOAMP row knew is not lost: the kept TED row gets the BOAMP ``famille`` (JOUE), the union of the
   structured signals, the columns it left empty (buyer id, CPV, amount...), and the BOAMP ``id_avis`` in the
   extra key ``avis_lies`` (``|``-separated; not a column of schemas/avis.json). Pair ``(boamp id, ted id)``.

``deduplicate`` returns the kept rows in input order (a merged row where its first occurrence was) and the
``(dropped_id_avis, kept_id_avis)`` pairs, for the caller to count or report.
"""

from __future__ import annotations

import datetime as dt

from . import join_signals, split_signals

MAX_DAYS_APART = 31

# Columns never filled from another row: they say which notice, file and format the kept row is.
_IDENTITY = frozenset({"id_avis", "source", "type_avis", "date_publication", "url", "format_source",
                       "source_fichier", "reference_ted", "anomalies", "structured_signals"})
LINKED_KEY = "avis_lies"


def _filled(row: dict) -> int:
    return sum(1 for value in row.values() if value not in (None, ""))


def _fill_gaps(kept: dict, other: dict) -> None:
    for column, value in other.items():
        if column in _IDENTITY or column == LINKED_KEY or value in (None, ""):
            continue
        if column in ("montant", "montant_nature"):
            if kept.get("montant") in (None, "") and other.get("montant") not in (None, ""):
                kept["montant"], kept["montant_nature"] = other["montant"], other.get("montant_nature")
            continue
        if kept.get(column) in (None, ""):
            kept[column] = value
    signals = split_signals(kept.get("structured_signals")) | split_signals(other.get("structured_signals"))
    kept["structured_signals"] = join_signals(signals)


def _collapse_same_id(rows: list[dict]) -> tuple[list[dict], list[tuple[str, str]]]:
    groups: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(row["id_avis"], []).append(index)
    kept: list[dict] = []
    pairs: list[tuple[str, str]] = []
    for id_avis, indexes in groups.items():
        best = max(indexes, key=lambda i: (_filled(rows[i]), i))
        row = dict(rows[best])
        for i in indexes:
            if i != best:
                _fill_gaps(row, rows[i])
                pairs.append((id_avis, id_avis))
        kept.append((min(indexes), row))
    return [row for _, row in sorted(kept, key=lambda item: item[0])], pairs


def _days_apart(a: object, b: object) -> int | None:
    if isinstance(a, dt.date) and isinstance(b, dt.date):
        return abs((a - b).days)
    return None


def _procedure_key(value: object) -> str | None:
    return value.strip().casefold() if isinstance(value, str) and value.strip() else None


def deduplicate(rows: list[dict]) -> tuple[list[dict], list[tuple[str, str]]]:
    """Rows without repeats and BOAMP copies of TED notices, and the (dropped id_avis, kept id_avis) pairs."""
    rows, pairs = _collapse_same_id(rows)
    ted = {row["id_avis"]: row for row in rows if row.get("source") == "ted"}
    by_procedure: dict[tuple[str, str], list[dict]] = {}
    for row in ted.values():
        key = _procedure_key(row.get("id_procedure"))
        if key:
            by_procedure.setdefault((key, row.get("type_avis")), []).append(row)

    dropped: set[str] = set()
    absorbed: set[str] = set()
    for row in rows:
        if row.get("source") != "boamp":
            continue
        target = None
        reference = row.get("reference_ted")
        if reference:
            # A notice that names its TED twin is merged with that one only, never with a look-alike.
            target = ted.get(f"ted:{reference}")
        elif (row.get("famille") or "").upper() == "JOUE" and _procedure_key(row.get("id_procedure")):
            candidates = by_procedure.get((_procedure_key(row["id_procedure"]), row.get("type_avis")), [])
            # One BOAMP copy per TED notice: two awards of one procedure (two lots) stay two rows.
            candidates = [c for c in candidates if c["id_avis"] not in absorbed]
            scored = [(_days_apart(row.get("date_publication"), c.get("date_publication")), c) for c in candidates]
            scored = [(days, c) for days, c in scored if days is None or days <= MAX_DAYS_APART]
            if scored:
                target = min(scored, key=lambda item: item[0] if item[0] is not None else MAX_DAYS_APART + 1)[1]
        if target is None:
            continue
        absorbed.add(target["id_avis"])
        _fill_gaps(target, row)
        linked = [x for x in (target.get(LINKED_KEY) or "").split("|") if x]
        target[LINKED_KEY] = "|".join(dict.fromkeys([*linked, row["id_avis"]]))
        dropped.add(row["id_avis"])
        pairs.append((row["id_avis"], target["id_avis"]))
    return [row for row in rows if row["id_avis"] not in dropped], pairs
