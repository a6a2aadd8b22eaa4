"""The contracts of one input file as columns, built by the process that read the file.

A national run reads a million contracts. As row dicts in the parent process they cost gigabytes and half a minute
to turn into columns after the reading. So the reading worker turns its own file's rows into the columns of the
published marches table, plus the few private ones consolidation compares versions on, and the list of suppliers;
the parent concatenates the files' batches (``Read``), and consolidation keeps rows by number
(consolidate.consolidate_batch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import schemas
from ..arrow_codes import arrow_strings
from ..tables import MARCHES_COMPUTED, columns_of, links_of, marches_frame, uid_order

if TYPE_CHECKING:
    from .history import History, Seed
    from .regular import Block

# Not published: where each record was read, and its last modification (consolidation ranks versions by them).
PRIVATE = ["_chemin", "_rang_fichier", "_position", "_derniere_modification"]


@dataclass
class MarchesBatch:
    frame: pd.DataFrame  # one row per contract record: marches columns (tables.marches_frame) + PRIVATE;
    # sorted by uid within each file read
    links: pd.DataFrame  # one row per supplier of a record (tables.links_of): ``_ligne`` = its row in frame

    def __len__(self) -> int:
        return len(self.frame)

    def relabel(self, chemin: str, source_fichier: str, rang: int) -> None:
        """The run's names for records read under other names (the reading cache, decp.file_cache)."""
        index = self.frame.index
        self.frame["_chemin"] = pd.Series(chemin, index=index, dtype="string")
        self.frame["source_fichier"] = pd.Series(source_fichier, index=index, dtype="string")
        self.frame["_rang_fichier"] = pd.Series(rang, index=index, dtype="Int64")


def from_rows(rows: list[dict]) -> MarchesBatch:
    return from_parts(rows, [])


def from_parts(rows: list[dict], blocks: list[Block]) -> MarchesBatch:
    """One file's contracts: ``rows`` normalised one by one (records.normalize_marche), ``blocks`` read as columns
    (decp.regular); sorted by uid, then by place in the file."""
    present = set().union(*(r.keys() for r in rows), *(block.rows.keys() for block in blocks))
    names = [name for name in schemas.field_names("marches") if name in present and name not in MARCHES_COMPUTED]
    names += PRIVATE
    columns = dict(zip(names, columns_of(rows, names)))
    anomalies = [r["_anomalies"] for r in rows]
    suppliers = [r["_titulaires"] for r in rows]
    for block in blocks:  # all of a file's contracts in one frame: a frame's making costs the same for 10 or 10,000
        for name in names:
            columns[name].extend(block.rows.get(name) or [None] * len(block))
        anomalies.extend(block.rows["_anomalies"])
        suppliers.extend(block.rows["_titulaires"])
    chemin, rang, position, modified = (columns.pop(name) for name in PRIVATE)
    frame = marches_frame(columns, anomalies, suppliers)
    frame["_chemin"] = pd.Series(chemin, dtype="string")
    frame["_rang_fichier"] = pd.array(rang, dtype="Int64")
    frame["_position"] = pd.array(position, dtype="Int64")
    frame["_derniere_modification"] = pd.to_datetime(pd.Series(modified, dtype=object)).astype("datetime64[s]")
    whole = MarchesBatch(frame, links_of(suppliers))
    # Sorted by uid here, in the reading worker: the parent then merges sorted runs, whose rows it gathers in
    # order, 7x faster than the same rows scattered (a million rows of forty columns). Rows read one by one come in
    # file order already; with blocks, the place in the file breaks ties.
    if not blocks:
        return take(whole, uid_order(frame["uid"]))
    keys = pa.table({"uid": arrow_strings(frame["uid"]),
                     "position": frame["_position"].to_numpy(dtype=np.int64, na_value=-1)})
    return take(whole, np.asarray(pc.sort_indices(keys, [("uid", "ascending"), ("position", "ascending")])))


def concat(batches: list[MarchesBatch]) -> MarchesBatch:
    if not batches:
        return from_rows([])
    offsets = np.cumsum([0] + [len(b) for b in batches[:-1]])
    links = [b.links.assign(_ligne=b.links["_ligne"].to_numpy() + offset) for b, offset in zip(batches, offsets)]
    return MarchesBatch(pd.concat([b.frame for b in batches], ignore_index=True),
                        pd.concat(links, ignore_index=True))


def take(batch: MarchesBatch, lines: np.ndarray) -> MarchesBatch:
    """The records at ``lines`` (row numbers, in the order wanted), with their suppliers in the same order."""
    position = np.full(len(batch), -1, dtype=np.int64)
    position[lines] = np.arange(len(lines))
    moved = position[batch.links["_ligne"].to_numpy()]
    kept = np.flatnonzero(moved >= 0)
    order = kept[np.lexsort((batch.links["rang"].to_numpy(dtype=np.int64)[kept], moved[kept]))]
    links = batch.links.take(order).assign(_ligne=moved[order]).reset_index(drop=True)
    return MarchesBatch(batch.frame.take(lines).reset_index(drop=True), links)


def python_values(column: pd.Series) -> list:
    """A column's values as the row dicts held them: None for missing, dates as ``datetime.date``."""
    if column.dtype.kind == "M":
        return [None if pd.isna(v) else v.date() for v in column]
    return column.astype(object).where(column.notna(), None).tolist()


@dataclass
class Read:
    """What ingest.ingest_files read: contracts as one batch of columns, everything else as rows."""
    marches: MarchesBatch = field(default_factory=lambda: from_rows([]))
    concessions: list[dict] = field(default_factory=list)
    avis: list[dict] = field(default_factory=list)
    rejets: list[dict] = field(default_factory=list)
    fichiers: list[dict] = field(default_factory=list)
    # ingest_files(history=True): the kept state whose files were not read again (``marches`` then holds the other
    # files' contracts only), and what the next state is made of (None when no state may be kept).
    history: History | None = None
    seed: Seed | None = None
