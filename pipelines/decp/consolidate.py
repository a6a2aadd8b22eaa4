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


def _split_contracts(group: list[dict], date_key: str) -> dict[tuple, list[dict]]:
    """Records of one uid grouped by contract: same notification date and same object (case/accents aside).

    A record without an object is a version of the contract notified the same day (the largest group), since
    publishers sometimes fill the object in a later republication.
    """
    contracts: dict[tuple, list[dict]] = {}
    untitled = []
    for row in group:
        objet = fold(row.get("objet") or "")
        if objet:
            contracts.setdefault((row.get(date_key), objet), []).append(row)
        else:
            untitled.append(row)
    for row in untitled:
        same_day = [key for key in contracts if key[0] == row.get(date_key)]
        key = max(same_day, key=lambda k: len(contracts[k])) if same_day else (row.get(date_key), "")
        contracts.setdefault(key, []).append(row)
    for key, records in contracts.items():
        for row in records:
            row["_identite"] = key
    return contracts


def consolidate(rows: list[dict], date_key: str, label: str) -> tuple[list[dict], list[dict]]:
    """Returns (one row per uid, rejets for colliding contracts)."""
    by_uid: dict[str, list[dict]] = {}
    for row in rows:
        by_uid.setdefault(row["uid"], []).append(row)
    kept: list[dict] = []
    rejected: list[dict] = []
    for uid, group in by_uid.items():
        contracts = _split_contracts(group, date_key)
        versions = [max(records, key=_version_rank) | {"nb_versions_fusionnees": len(records)}
                    for records in contracts.values()]
        versions.sort(key=lambda r: (r.get(date_key) or _EPOCH, r["nb_versions_fusionnees"], _version_rank(r)))
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
