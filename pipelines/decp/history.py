"""The consolidated history kept between runs: a run whose inputs are the last run's files plus new ones
consolidates and classifies only the contracts the new files touch.

A national history is a million contracts; a month adds 25,000. Without this state a monthly run would load every
file's records from the reading cache, consolidate the million again and classify them again, to change a few
percent of them. After each run (``pipeline.run_from_files``), the cache folder keeps under ``historique/``:

- every record the run read, as consolidation left it: the row kept for each uid (``kept``, in uid order, with its
  decision: innovant, innovation_score, innovation_signaux) and the others (merged versions, colliding contracts),
  plus the collision rejets (consolidate.Consolidation);
- what else each input file gave (concessions, notices, rejets, its report), as read;
- which files these are: their rank among the inputs, name, cache key (sha256 and size of the bytes,
  file_cache) and the dates their reading judged (values.DateWindow).

The next run reuses it when every one of those files is given again with the same bytes, at the same rank, under
the same name, on a day that judges its dates the same way, and the code, schemas, text model, SIRENE stock and
libraries are those that built it (``version``). Then only the other files are read; the records of the uids they
contain are consolidated again with the history's records of those uids (``splice``), whose other rows stay as
they were, and only the rows that changed are classified. Consolidation and classification are functions of a
uid's records and of a row, so the tables are those a run over every file gives (tests/test_history.py); the
indicators, checks and publication are computed on the whole tables as always. Otherwise the run reads everything
and a new state replaces the old one.

Files without a cache key (notices, files too large) are read on every run and kept out of the state. Entries are
pickles and Arrow files: the cache folder must be writable only by the operator, as the code itself is.
"""

from __future__ import annotations

import functools
import hashlib
import multiprocessing
import os
import pickle
import platform
import shutil
import unicodedata
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather

from .. import schemas
from ..arrow_codes import arrow_strings
from ..files import atomic_write_bytes
from ..tables import uid_order
from . import values
from .batch import MarchesBatch, concat, take
from .consolidate import Consolidation, consolidate_batch
from .file_cache import relabel_rows
from .ingest import InputFile, _printable

FORMAT = "1"
FOLDER = "historique"
CURRENT = "courant"  # names the folder of the current state; written last, so a state is whole or absent
DECISIONS = ("innovant", "innovation_score", "innovation_signaux")
_ROOT = Path(__file__).resolve().parents[2]
_LIBRARIES = ("pandas", "pyarrow", "numpy", "scikit-learn", "scipy")


@dataclass(frozen=True)
class Mark:
    """An input file whose records the state holds."""
    rank: int
    name: str
    key: str  # file_cache key: sha256 and size of the bytes
    dates: values.DateWindow


@dataclass
class Seed:
    """What a run read that a state can hold: its files with a cache key, and what each gave besides its contracts
    (pickled as read, before the normalisation completes those rows in place)."""
    marks: list[Mark]
    rests: dict[int, bytes]


@dataclass
class History:
    seed: Seed
    consolidation: Consolidation
    decisions: pd.DataFrame  # DECISIONS of each row of consolidation.kept


def _file_digests(digest, folder: Path) -> None:
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())


@functools.lru_cache(maxsize=4)
def _code_digest(schemas_dir: str) -> str:
    digest = hashlib.sha256(FORMAT.encode())
    _file_digests(digest, _ROOT / "pipelines")  # code, reference tables and the shipped text model
    _file_digests(digest, Path(schemas_dir))
    for library in _LIBRARIES:
        digest.update(b"\0" + metadata.version(library).encode())
    digest.update(platform.python_version().encode() + unicodedata.unidata_version.encode())
    return digest.hexdigest()


def version() -> str:
    """What turns the files' records into kept rows and decisions: the pipeline's code and data files, the Table
    Schemas, the text model and SIRENE stock in use (by path, size and modification time), the libraries."""
    from ..classify.decision import model_path
    from ..sirene.stock import available_stock

    digest = hashlib.sha256(_code_digest(str(schemas.SCHEMAS_DIR)).encode())
    for path in (model_path(), available_stock()):
        if path is not None and path.is_file():
            stat = path.stat()
            digest.update(f"\0{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def _current(folder: Path) -> Path | None:
    try:
        name = (folder / FOLDER / CURRENT).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return folder / FOLDER / name if name and "/" not in name else None


def _valid(marks: list[Mark], keys: list[str | None], today) -> bool:
    return all(mark.rank < len(keys) and keys[mark.rank] == mark.key and mark.dates.holds_on(today)
               for mark in marks)


def _read_arrow(path: Path) -> pd.DataFrame:
    return feather.read_table(path, memory_map=True).to_pandas()


def load(folder: Path, items: list[InputFile], keys: list[str | None], today) -> History | None:
    """The state kept in the cache ``folder`` when the run's inputs (``items`` and their cache ``keys``, by rank)
    hold every file it was built from, and it was built by this code on inputs judged as ``today`` would; else
    None. Files given under other names (another folder) take the run's names."""
    state = _current(folder)
    if state is None or not state.name.startswith(version() + "-"):
        return None
    try:
        with (state / "etat.pickle").open("rb") as handle:
            seed, collisions, collision_keys = pickle.load(handle)
        if not _valid(seed.marks, keys, today):
            return None
        batches = [MarchesBatch(_read_arrow(state / f"{name}.arrow"), _read_arrow(state / f"{name}-titulaires.arrow"))
                   for name in ("gardes", "autres")]
        decisions = _read_arrow(state / "decisions.arrow")
    except Exception:  # noqa: BLE001 - damaged or half-removed: the run reads every file
        return None
    if len(decisions) != len(batches[0]):
        return None
    found = History(seed, Consolidation(*batches, collisions, collision_keys), decisions)
    return found if _renamed(found, items) else None


def _renamed(history: History, items: list[InputFile]) -> bool:
    """Give the history's records the run's file names (``_chemin``, ``source_fichier``, rejets' ``fichier``);
    False when names were shared by several files (a rejet's file could not be told)."""
    marks = history.seed.marks
    names = {mark.name: items[mark.rank].name for mark in marks}
    if all(old == new for old, new in names.items()):
        return True
    if len(names) != len(marks) or len(set(names.values())) != len(marks):
        return False
    by_rank = {mark.rank: items[mark.rank] for mark in marks}
    chemins = pa.array([by_rank[rank].name if rank in by_rank else None for rank in range(len(items))], pa.string())
    sources = pa.array([_printable(by_rank[rank].path.name) if rank in by_rank else None
                        for rank in range(len(items))], pa.string())
    for part in (history.consolidation.kept, history.consolidation.others):
        ranks = pa.array(part.frame["_rang_fichier"].to_numpy(dtype=np.int64))
        part.frame["_chemin"] = pd.Series(pd.arrays.ArrowStringArray(chemins.take(ranks)), index=part.frame.index)
        part.frame["source_fichier"] = pd.Series(pd.arrays.ArrowStringArray(sources.take(ranks)),
                                                 index=part.frame.index)
    for rejet in history.consolidation.collisions:
        rejet["fichier"] = names[rejet["fichier"]]
    for index, mark in enumerate(marks):
        if names[mark.name] != mark.name:
            concessions, avis, rejets, fichiers = rest = pickle.loads(history.seed.rests[mark.rank])
            relabel_rows(concessions, rejets, fichiers, by_rank[mark.rank], mark.rank)
            history.seed.rests[mark.rank] = pickle.dumps(rest, protocol=pickle.HIGHEST_PROTOCOL)
            marks[index] = Mark(mark.rank, names[mark.name], mark.key, mark.dates)
    return True


def _write_arrow(frame: pd.DataFrame, path: Path) -> None:
    feather.write_feather(pa.Table.from_pandas(frame, preserve_index=False), path, compression="uncompressed")
    with path.open("rb") as handle:  # on disk before the state is named current
        os.fsync(handle.fileno())


def _write(state: Path, seed: Seed, consolidation: Consolidation) -> None:
    state.mkdir(parents=True, exist_ok=True)
    for name, part in (("gardes", consolidation.kept), ("autres", consolidation.others)):
        _write_arrow(part.frame, state / f"{name}.arrow")
        _write_arrow(part.links, state / f"{name}-titulaires.arrow")
    atomic_write_bytes(state / "etat.pickle", pickle.dumps(
        (seed, consolidation.collisions, consolidation.collision_keys), protocol=pickle.HIGHEST_PROTOCOL))


def _write_or_fail(state: Path, seed: Seed, consolidation: Consolidation) -> None:
    try:
        _write(state, seed, consolidation)
    except Exception:  # noqa: BLE001 - the exit code says it; the run goes on without a new state
        os._exit(1)


class Writer:
    """Writes the run's state beside the current one: its records as soon as they are consolidated (with ``fork``,
    in a forked process, while the run classifies and publishes: the parent keeps no reference to them), then
    ``finish`` adds the decisions and makes it current; ``cancel`` drops it (a failed run keeps the previous state).
    A state that cannot be written only costs time at the next run."""

    def __init__(self, folder: Path, seed: Seed, consolidation: Consolidation, fork: bool) -> None:
        self.root = Path(folder) / FOLDER
        self.state = self.root / f"{version()}-{uuid.uuid4().hex[:12]}"
        self.process = None
        self.failed = False
        if fork and "fork" in multiprocessing.get_all_start_methods():
            self.process = multiprocessing.get_context("fork").Process(
                target=_write_or_fail, args=(self.state, seed, consolidation), name="historique", daemon=True)
            try:
                self.process.start()  # which drops its references to the arguments
                return
            except OSError:
                self.process = None
        try:
            _write(self.state, seed, consolidation)
        except Exception:  # noqa: BLE001 - see the class
            self.failed = True

    def _written(self) -> bool:
        if self.process is not None:
            self.process.join()
            self.failed |= self.process.exitcode != 0
            self.process = None
        return not self.failed

    def finish(self, decisions: pd.DataFrame) -> None:
        if not self._written():
            self.cancel()
            return
        try:
            _write_arrow(decisions[list(DECISIONS)].reset_index(drop=True), self.state / "decisions.arrow")
            atomic_write_bytes(self.root / CURRENT, self.state.name.encode())
        except Exception:  # noqa: BLE001 - see the class
            self.cancel()
            return
        for other in self.root.iterdir():
            if other.is_dir() and other != self.state:
                shutil.rmtree(other, ignore_errors=True)

    def cancel(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.join()
            self.process = None
        self.failed = True
        if _current(self.root.parent) != self.state:
            shutil.rmtree(self.state, ignore_errors=True)


def _without(batch: MarchesBatch, column: str) -> MarchesBatch:
    return MarchesBatch(batch.frame.drop(columns=[column]), batch.links)


def splice(history: History, new: MarchesBatch, date_key: str, amount_key: str,
           label: str) -> tuple[Consolidation, pd.DataFrame]:
    """The consolidation of the history's records plus ``new`` ones, as consolidate_batch gives it on all of them,
    and the decisions known for its kept rows (missing where the row is new or changed)."""
    old = history.consolidation
    touched = pc.unique(arrow_strings(new.frame["uid"]))
    in_kept = pc.is_in(arrow_strings(old.kept.frame["uid"]), value_set=touched).to_numpy(zero_copy_only=False)
    in_others = pc.is_in(arrow_strings(old.others.frame["uid"]), value_set=touched).to_numpy(zero_copy_only=False)
    # Every record read of the touched uids: their kept rows and other records, then the new ones.
    again = concat([_without(take(old.kept, np.flatnonzero(in_kept)), "nb_versions_fusionnees"),
                    _without(take(old.others, np.flatnonzero(in_others)), "_fusionne"), new])
    part = consolidate_batch(again, date_key, amount_key, label)
    # The untouched kept rows and the touched uids' new ones, in uid order (disjoint uids: no ties).
    joined = concat([old.kept, part.kept])
    candidates = np.concatenate([np.flatnonzero(~in_kept), len(old.kept) + np.arange(len(part.kept))])
    lines = candidates[uid_order(joined.frame["uid"].take(candidates))]
    kept = take(joined, lines)
    del joined  # a copy of the million rows: let go now, not at the return
    unknown = pd.DataFrame({name: pd.Series(pd.NA, index=range(len(part.kept)), dtype=history.decisions[name].dtype)
                            for name in DECISIONS})
    decisions = pd.concat([history.decisions[list(DECISIONS)], unknown], ignore_index=True).take(lines)
    others = concat([take(old.others, np.flatnonzero(~in_others)), part.others])
    touched_uids = set(touched.to_pylist())
    pairs = [(key, rejet) for rejet, key in zip(old.collisions, old.collision_keys)
             if rejet["identifiant"] not in touched_uids]
    # Each uid's rejets in consolidate()'s order, the uids in the order they were first read.
    pairs = sorted(pairs + list(zip(part.collision_keys, part.collisions)), key=lambda pair: pair[0])
    return (Consolidation(kept, others, [rejet for _, rejet in pairs], [key for key, _ in pairs]),
            decisions.reset_index(drop=True))

