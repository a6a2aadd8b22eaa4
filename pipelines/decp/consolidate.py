"""From normalised records to one row per contract: duplicates merged, latest version kept, collisions rejected.

A contract is identified by ``uid`` = buyer SIRET + contract id (DESIGN §4). The same contract is published many
times (daily files that repeat it after each modification, several consolidations of the same platform); those
records are merged and the most complete, most recent version is kept (most modifications, then latest
modification, then latest publication, then the file that comes last). Buyers sometimes reuse one id for several
lots: records sharing a uid but notified on another date or for another object are different contracts that the
primary key cannot hold; the most recent one is kept and the others go to rejets (``uid_en_collision``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from ..arrow_codes import arrow_strings
from ..sorted_keys import repeated_in_order
from ..tables import uid_order
from .batch import MarchesBatch, python_values, take
from .ingest import reject
from .values import fold

_EPOCH = dt.date.min


def _version_rank(row: dict) -> tuple:
    return (
        row["nb_modifications"],
        row["_derniere_modification"] or _EPOCH,
        row.get("date_publication_donnees") or _EPOCH,
        row["_rang_fichier"],
        row["_position"],
    )


_PUNCTUATION = re.compile(r"[^\w]+")
_LEADING_ZEROS = re.compile(r"\b0+(\d)")


def object_key(objet: str | None) -> str:
    """Wording-insensitive key of an object: republications reword ("Lot 08 :" / "Lot 8:", accents, spacing)."""
    text = _PUNCTUATION.sub(" ", fold(objet or "")).replace("_", " ")
    return " ".join(_LEADING_ZEROS.sub(r"\1", text).split())


def _split_contracts(group: list[dict], date_key: str, amount_key: str) -> dict[tuple, list[dict]]:
    """Records of one uid grouped by contract: same notification date and same object (wording aside).

    A record without an object is taken for a version of the contract notified the same day (the largest
    group), since publishers sometimes fill the object in later; when no record of that day has an object,
    the initial amount tells contracts apart (tabular exports without objects).
    """
    contracts: dict[tuple, list[dict]] = {}
    untitled = []
    for row in group:
        key = object_key(row.get("objet"))
        if key:
            contracts.setdefault((row.get(date_key), key), []).append(row)
        else:
            untitled.append(row)
    for row in untitled:
        same_day = [key for key in contracts if key[0] == row.get(date_key) and not key[1].startswith("#")]
        if same_day:
            key = max(same_day, key=lambda k: (len(contracts[k]), k[1]))
        else:
            key = (row.get(date_key), f"#{row.get(amount_key)}")
        contracts.setdefault(key, []).append(row)
    for key, records in contracts.items():
        for row in records:
            row["_identite"] = key
    return contracts


def consolidate(rows: list[dict], date_key: str, amount_key: str, label: str) -> tuple[list[dict], list[dict]]:
    """Returns (one row per uid, rejets for colliding contracts)."""
    by_uid: dict[str, list[dict]] = {}
    for row in rows:
        by_uid.setdefault(row["uid"], []).append(row)
    kept: list[dict] = []
    rejected: list[dict] = []
    for uid, group in by_uid.items():
        if len(group) == 1:  # one record, one contract (most uids): nothing to split, merge or reject
            row = group[0]  # completed in place: a copy per contract would double the rows' memory at 1M
            row["nb_versions_fusionnees"] = 1
            row["_fusions"] = []
            kept.append(row)
            continue
        contracts = _split_contracts(group, date_key, amount_key)
        versions = []
        for records in contracts.values():
            best = max(records, key=_version_rank)
            # Where the merged republications came from: the quality report counts them per file.
            versions.append(best | {"nb_versions_fusionnees": len(records),
                                    "_fusions": [r["_chemin"] for r in records if r is not best]})
        # The contract notified last is kept; on the same day, the most complete and most recent version.
        versions.sort(key=lambda r: (r.get(date_key) or _EPOCH, _version_rank(r)))
        winner = versions[-1]
        kept.append(winner)
        for loser in versions[:-1]:
            when = loser.get(date_key)
            detail = (
                f"{label} {uid} : même acheteur et même id qu'un autre {label} mais objet ou date différents "
                f"(« {(loser.get('objet') or '')[:80]} », {when or 'date inconnue'}) ; "
                f"conservé : « {(winner.get('objet') or '')[:80]} », {winner.get(date_key) or 'date inconnue'}"
            )
            for row in contracts[loser["_identite"]]:
                rejected.append(reject(row["_chemin"], "uid_en_collision", detail, row["_position"], uid,
                                       row["format_source"]))
    return kept, rejected


# What consolidate() reads of a record: the fields versions are compared on, and those its rejets name.
_VERSION_FIELDS = ("uid", "objet", "nb_modifications", "_derniere_modification", "date_publication_donnees",
                   "_rang_fichier", "_position", "_chemin", "format_source")


def _read_more_than_once(uids: pd.Series, order: np.ndarray) -> np.ndarray:
    """Row numbers (ascending) of the rows whose uid another row has too; ``order``: the rows in uid order."""
    in_order = arrow_strings(uids).take(pa.array(order))
    same = repeated_in_order([in_order])
    if same is None:  # fewer than two rows, or missing uids (one value for duplicated()): left to duplicated()
        return np.flatnonzero(uids.duplicated(keep=False).to_numpy())
    repeated = np.zeros(len(uids), dtype=bool)
    repeated[order[1:][same]] = True
    repeated[order[:-1][same]] = True
    return np.flatnonzero(repeated)


@dataclass
class Consolidation:
    """The contracts' records consolidated: ``kept``, one row per uid in uid order, with ``nb_versions_fusionnees``;
    ``others``, every other record, with ``_fusionne``: True when merged into the kept row of its uid as one of its
    versions, False when rejected as a colliding contract (``collisions``, its rejets). Kept and others together are
    every record read, so the records of a uid can be consolidated again with new ones (decp.history).
    ``collision_keys``: for each rejet of ``collisions``, where its uid was first read (file rank, position); the
    rejets come in that order, as consolidate() groups the uids."""
    kept: MarchesBatch
    others: MarchesBatch
    collisions: list[dict]
    collision_keys: list[tuple[int, int]]

    @property
    def merged(self) -> Counter:
        """How many records of each file were merged into a kept row (the quality report's ``fusionnes``)."""
        frame = self.others.frame
        return Counter(frame["_chemin"][frame["_fusionne"].to_numpy(dtype=bool)].tolist())


def consolidate_batch(batch: MarchesBatch, date_key: str, amount_key: str, label: str) -> Consolidation:
    """consolidate() on columns: the records of a uid read once (most of them) are kept as they are; the others go
    through consolidate() as dicts of the fields it reads, and the winners' rows are kept by number."""
    frame = batch.frame
    # The rows in uid order, once: a uid read more than once is then a uid equal to a neighbour's, and the rows
    # kept come out in that order (one row per uid: no ties), without hashing or sorting the uids again.
    order = uid_order(frame["uid"])
    repeated = _read_more_than_once(frame["uid"], order)
    # In reading order (file, then position), as consolidate() saw the rows: rejets of two same-named files keep
    # their order.
    read_order = np.lexsort((frame["_position"].to_numpy(dtype=np.int64)[repeated],
                             frame["_rang_fichier"].to_numpy(dtype=np.int64)[repeated]))
    repeated = repeated[read_order]
    names = list(dict.fromkeys([*_VERSION_FIELDS, date_key, amount_key]))
    values = [python_values(frame[name].take(repeated)) for name in names]
    records = [dict(zip(names, fields), _ligne=int(line)) for line, *fields in zip(repeated, *values)]
    winners, rejected = consolidate(records, date_key, amount_key, label)
    keep = np.ones(len(frame), dtype=bool)
    keep[repeated] = False
    versions = np.ones(len(frame), dtype=np.int64)
    for winner in winners:
        keep[winner["_ligne"]] = True
        versions[winner["_ligne"]] = winner["nb_versions_fusionnees"]
    # In uid order, as published: one take of the million rows instead of a take now and a sort later.
    lines = order[keep[order]]
    kept = take(batch, lines)
    kept.frame["nb_versions_fusionnees"] = pd.array(versions[lines], dtype="Int64")
    # A record not kept was merged when it is a version of the contract kept for its uid (consolidate() marked
    # each record of a repeated uid with its contract's ``_identite``), else rejected with its contract.
    kept_contracts = {(w["uid"], w["_identite"]) for w in winners}
    dropped = [r for r in records if not keep[r["_ligne"]]]
    others = take(batch, np.asarray([r["_ligne"] for r in dropped], dtype=np.int64))
    others.frame["_fusionne"] = np.asarray([(r["uid"], r["_identite"]) in kept_contracts for r in dropped],
                                           dtype=bool)
    first_read: dict[str, tuple[int, int]] = {}
    for record in records:
        first_read.setdefault(record["uid"], (record["_rang_fichier"], record["_position"]))
    return Consolidation(kept, others, rejected, [first_read[r["identifiant"]] for r in rejected])
