"""Reading the input files: each file's rows reused from a cache while its bytes are the same, the others read in
parallel processes when there is enough work for both cores.

**Cache.** A DECP file's result (its contracts as columns, its other rows, rejets and report: batch.Read) is kept
in ``cache_dir`` under the sha256 and size of the file's bytes, in a folder named after the version of the reading
code (the sources of ``pipelines/decp``, the official source schemas, and the code and schema of the marches
columns): a changed file, or changed code, is read again. Rows are judged
against the day of the run (dates after a year from now are refused): an entry also says which dates it kept and
refused, and is only reused on a day whose limit gives the same verdicts (values.DateWindow). Names that depend on
the run (the file's path as given, its rank among the inputs) are set again on every use. So a run with one new
month reads that month only: the publication is the same as without the cache (tests/test_file_cache.py); the
pipeline's runs do not even load the entries of the files whose records the history state holds (decp.history,
``read_files(known=...)``). Notice files (BOAMP, TED) are always read. The folders of other code
versions are removed when the cache is opened.

Entries are pickles: the cache folder must be writable only by the operator, as the code itself is.

**Parallel reads.** Files are independent until consolidation: with at least ``PARALLEL_MIN_BYTES`` to read in two
files or more, two worker processes read them (the pipeline's per-record work is pure Python, one core per process)
and their results come back in input order, so the output is the same as a sequential read; with at least
``SEPARATE_MIN_BYTES``, one worker process reads them (the reading's memory is not left to the run). A worker sends
back its file's contracts as columns, never as row dicts: the parent holds no per-record Python object.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import multiprocessing
import os
import pickle
import shutil
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .. import schemas
from ..files import atomic_write_bytes, sha256_file
from ..notices.read import sniff_notice
from . import batch, values
from .batch import Read
from .ingest import InputFile, _head, _printable, ingest_file
from .whole_json import gc_paused

PARALLEL_MIN_BYTES = 32 * 1024 * 1024
# From this many bytes to read, even one file is read in a worker process: the tree of the parsed JSON and the
# garbage of the reading stay in the child, whose memory goes back to the system when it ends (read here, a month
# of 25,000 contracts left 0.3 GB more to the rest of a national run).
SEPARATE_MIN_BYTES = 8 * 1024 * 1024
MAX_WORKERS = 2
CACHE_FORMAT = "2"
_ROOT = Path(__file__).resolve().parents[2]
# What turns a file's bytes into its entry: the readers and the official schemas, then the code and Table Schema of
# the marches columns (batch), and the libraries whose objects the entry pickles.
_CODE_DIRS = (Path(__file__).resolve().parent, _ROOT / "schemas" / "source")
_CODE_FILES = (_ROOT / "pipelines" / "tables.py", _ROOT / "pipelines" / "schemas.py")
_LIBRARIES = ("pandas", "pyarrow", "numpy")


@dataclass
class Entry:
    read: Read  # the file's contracts as columns (batch), the rest as rows
    dates: values.DateWindow


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Digest of the code, schemas and libraries that turn a file's bytes into its entry."""
    digest = hashlib.sha256(CACHE_FORMAT.encode())
    files = [p for folder in _CODE_DIRS for p in sorted(folder.rglob("*")) if p.suffix in (".py", ".json")]
    for path in [p for p in files if p.is_file()] + [*_CODE_FILES, Path(schemas.SCHEMAS_DIR) / "marches.json"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for library in _LIBRARIES:
        digest.update(b"\0" + metadata.version(library).encode())
    return digest.hexdigest()[:16]


Job = tuple[InputFile, int, int, dt.date]


def _read(job: Job) -> Entry:
    item, rank, max_bytes, today = job
    with values.watching_dates() as window, gc_paused():
        ingested = ingest_file(item, rank, max_bytes, today, columns=True)
        read = Read(batch.from_parts(ingested.marches, ingested.blocks), ingested.concessions, ingested.avis,
                    ingested.rejets, ingested.fichiers)
    return Entry(read, window)


def _read_pickled(job: Job, cache: FileCache | None, key: str | None) -> bytes:
    """In a worker: the entry pickled once, both for the parent and for the cache (written here, off the parent)."""
    data = pickle.dumps(_read(job), protocol=pickle.HIGHEST_PROTOCOL)
    if cache is not None and key:
        cache.store_bytes(key, data)
    return data


def _relabel(read: Read, item: InputFile, rank: int) -> Read:
    """The run's names for a result read under other names (the same bytes given from another folder)."""
    read.marches.relabel(item.name, _printable(item.path.name), rank)
    relabel_rows(read.concessions, read.rejets, read.fichiers, item, rank)
    return read


def relabel_rows(concessions: list[dict], rejets: list[dict], fichiers: list[dict], item: InputFile,
                 rank: int) -> None:
    """The run's names in the rows a file gave besides its contracts."""
    source = _printable(item.path.name)
    for row in concessions:
        row.update(source_fichier=source, _chemin=item.name, _rang_fichier=rank)
    for rejet in rejets:
        rejet["fichier"] = item.name
    for report in fichiers:
        report["fichier"] = item.name


class FileCache:
    def __init__(self, folder: Path):
        self.folder = Path(folder) / code_version()

    def drop_other_versions(self) -> None:
        """Entries of other code versions are never read again: removed, so the cache does not grow with every
        change of the reading code."""
        try:
            others = [p for p in self.folder.parent.iterdir() if p.is_dir() and p.name != self.folder.name
                      and len(p.name) == len(self.folder.name)]
        except OSError:
            return
        for other in others:
            shutil.rmtree(other, ignore_errors=True)

    def key(self, item: InputFile, max_bytes: int) -> str | None:
        """sha256-size of a DECP file the reader will read whole; None for what is not cached."""
        try:
            size = item.path.stat().st_size
            if size > max_bytes or not item.path.is_file() or sniff_notice(_head(item.path)):
                return None
            return f"{sha256_file(item.path)}-{size}"
        except OSError:
            return None

    def load(self, key: str, today: dt.date) -> Entry | None:
        try:
            entry = pickle.loads((self.folder / f"{key}.pickle").read_bytes())
        except Exception:  # noqa: BLE001 - absent, damaged or written by other code: read the file again
            return None
        return entry if isinstance(entry, Entry) and entry.dates.holds_on(today) else None

    def store_bytes(self, key: str, data: bytes) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.folder / f"{key}.pickle", data)
        except OSError:
            pass  # a cache that cannot be written only costs time at the next run


def parallel_reads(jobs: list[Job]) -> int:
    """Processes worth starting for these files (0: read them here)."""
    try:
        size = sum(job[0].path.stat().st_size for job in jobs)
    except OSError:
        return 0
    if size < SEPARATE_MIN_BYTES:
        return 0
    if len(jobs) < 2 or (os.cpu_count() or 1) < 2 or size < PARALLEL_MIN_BYTES:
        return 1
    return min(MAX_WORKERS, len(jobs))


def _computed(jobs: list[Job], keys: list[str | None], cache: FileCache | None, workers: int | None,
              meanwhile: Callable[[], None] | None = None) -> Iterator[Entry]:
    """Each job's entry, in order; the cache written for the jobs that have a key. ``meanwhile`` is called once the
    worker processes are reading (this process would only wait for them), or before reading here."""
    workers = parallel_reads(jobs) if workers is None else min(workers, len(jobs))
    if workers <= 0:
        if meanwhile is not None:
            meanwhile()
        for job, key in zip(jobs, keys):
            entry = _read(job)
            if cache is not None and key:
                cache.store_bytes(key, pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL))
            yield entry
        return
    # fork where there is one: spawn would import the caller's main script again in every worker (a script without
    # a ``__main__`` guard would run twice) and pay the imports; the workers only run the readers, which take no lock
    # that another thread of the parent could hold (logging's are reset at fork).
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method)) as pool:
        results = pool.map(_read_pickled, jobs, [cache] * len(jobs), keys)  # every job submitted, workers forked
        if meanwhile is not None:
            meanwhile()
        for data in results:
            with gc_paused():
                yield pickle.loads(data)


def _keys(cache: FileCache | None, items: list[InputFile], max_bytes: int) -> list[str | None]:
    """Each item's cache key; the files hashed by two threads (hashlib and file reads let go of the GIL): a national
    history is close to a gigabyte, 0.8-1.2 s to hash before any worker starts."""
    if cache is None:
        return [None] * len(items)
    if len(items) < 2:
        return [cache.key(item, max_bytes) for item in items]
    with ThreadPoolExecutor(MAX_WORKERS, thread_name_prefix="empreinte") as pool:
        return list(pool.map(lambda item: cache.key(item, max_bytes), items))


@dataclass
class Part:
    """One input's result, with its cache key (None: not cached) and the dates its reading judged."""
    rank: int
    read: Read
    key: str | None
    dates: values.DateWindow


def read_files(items: Iterable[InputFile], max_bytes: int, today: dt.date, cache_dir: Path | None = None,
               workers: int | None = None, meanwhile: Callable[[], None] | None = None,
               known: Callable[[list[str | None]], set[int]] | None = None) -> Iterator[Part]:
    """Each input's result, in input order; ``meanwhile``: see _computed (not called when every file comes from
    the cache); ``known``: given the inputs' cache keys, the ranks of those not to read (their records are known
    already, decp.history), left out of the results."""
    items = list(items)
    cache = FileCache(cache_dir) if cache_dir is not None else None
    if cache is not None:
        cache.drop_other_versions()
    keys = _keys(cache, items, max_bytes)
    skipped = known(keys) if known is not None else set()
    ready: dict[int, Entry] = {}
    for rank, (item, key) in enumerate(zip(items, keys)):
        entry = cache.load(key, today) if cache and key and rank not in skipped else None
        if entry is not None:
            ready[rank] = Entry(_relabel(entry.read, item, rank), entry.dates)
    todo = [rank for rank in range(len(items)) if rank not in ready and rank not in skipped]
    computed = _computed([(items[rank], rank, max_bytes, today) for rank in todo], [keys[rank] for rank in todo],
                         cache, workers, meanwhile)
    for rank in range(len(items)):
        if rank not in skipped:
            entry = ready.pop(rank) if rank in ready else next(computed)
            yield Part(rank, entry.read, keys[rank], entry.dates)
