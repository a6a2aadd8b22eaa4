"""Each row of a published CSV reduced to a 64-bit digest of its texts, and kept between runs.

The changelog compares two publications row by row (release.changelog). A national table's rows used to be read and
hashed again for it after the checks had just read them (table_checks), and the previous publication's CSV read
again too: 12 s of a run adding a month to a million contracts. Now the checks hash each table's rows as they read
them and keep the digests in the cache folder under the file's sha256 (the same bytes, the same rows); the
comparison takes both versions' digests from there and reads a CSV only for what is missing.

A row's digest is xxHash3 (64 bits) of its values, as published (every cell as its text), joined with a separator no
published text holds, escaped where a value does hold it: deterministic, so that the digests kept by one run
compare with the next run's (Python's own hash is drawn per process), and 2x faster than Python's hash here.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from .files import file_size

# In the kept files' names: a change of the joining or hashing leaves the digests kept before unused.
SCHEME = "xxh3-64-1"
FOLDER = "empreintes-lignes"
# Kept files (the digests of the last publications' tables): enough for the previous publication's, whatever the
# number of tables; older ones are deleted as new ones are kept.
KEPT_FILES = 32
# Values are joined with two unit separators; a unit separator inside a value is written with an escape after it,
# so a doubled one only ever separates values: two rows join to the same text only when all their values are equal.
SEPARATOR = "\x1f"
ESCAPE = "\x1e"
_DIGEST = "__empreinte_ligne__"


@dataclass
class RowDigests:
    """A table's rows as digests (``digests``) and, when it has a primary key, each row's key: its columns' texts
    (``key_columns``, for the error that names a duplicated key) and one text per row (``keys``, the columns joined
    as rows are)."""
    digests: np.ndarray
    keys: pa.ChunkedArray | None = None
    key_columns: pa.Table | None = None
    escape: bool = False  # values were escaped (the file holds the separator): keys joined the same way

    def __len__(self) -> int:
        return len(self.digests)


def holds_separator(path: Path) -> bool:
    """Whether any byte of the file is the separator: only then are values escaped (a C-level scan of the bytes)."""
    if file_size(path) == 0:
        return False
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return data.find(SEPARATOR.encode()) >= 0


def joined(columns: list[pa.Array], escape: bool, rows: int) -> pa.Array:
    """Each row's values joined by the separator; with ``escape`` (the file holds the separator somewhere), a
    separator inside a value is escaped first, so that different rows never join to the same text (escaping leaves
    a value without separator as it is: a file that needs it and one that does not still compare)."""
    if not columns:
        return pa.array([""] * rows)
    if escape:
        columns = [pc.replace_substring(column, SEPARATOR, SEPARATOR + ESCAPE) for column in columns]
    return pc.binary_join_element_wise(*columns, SEPARATOR + SEPARATOR)


def digests_of(texts: pa.Array) -> np.ndarray:
    """xxHash3 of each text's UTF-8 bytes, as signed 64-bit integers. Bytes, not text: no row is decoded into a
    Python string."""
    rows = texts.cast(pa.binary()).to_numpy(zero_copy_only=False)
    return np.fromiter(map(xxhash.xxh3_64_intdigest, rows), dtype=np.uint64, count=len(rows)).view(np.int64)


@dataclass
class Hasher:
    """A table's RowDigests built block of rows by block (``add``), in the order of the file."""
    primary_key: list[str]
    escape: bool
    _digests: list[np.ndarray] = field(default_factory=list)
    _keys: list[pa.RecordBatch] = field(default_factory=list)

    def add(self, block: pa.Table | pa.RecordBatch, columns: list[str]) -> None:
        """The rows of ``block`` (every cell as its text), their values taken in the order of ``columns``."""
        self._digests.append(digests_of(joined([block.column(c) for c in columns], self.escape, block.num_rows)))
        if self.primary_key:
            parts = [block.column(c) for c in self.primary_key]
            parts = [p.combine_chunks() if isinstance(p, pa.ChunkedArray) else p for p in parts]
            self._keys.append(pa.record_batch(parts, names=self.primary_key))

    def result(self) -> RowDigests:
        digests = np.concatenate(self._digests) if self._digests else np.empty(0, dtype=np.int64)
        return with_keys(digests, self._keys, self.primary_key, self.escape)


def with_keys(digests: np.ndarray, key_batches: list[pa.RecordBatch], primary_key: list[str],
              escape: bool) -> RowDigests:
    if not primary_key:
        return RowDigests(digests, escape=escape)
    key_columns = pa.Table.from_batches(key_batches, schema=pa.schema([(c, pa.string()) for c in primary_key]))
    if len(primary_key) == 1:
        keys = key_columns.column(0)
    else:
        keys = pa.chunked_array([joined(list(b.columns), escape, b.num_rows) for b in key_columns.to_batches()],
                                type=pa.string())
    return RowDigests(digests, keys, key_columns, escape)


def _path(folder: Path, sha256: str, columns: list[str], primary_key: list[str]) -> Path:
    """The kept digests of a file's rows over ``columns`` (the file's bytes by their sha256)."""
    shape = hashlib.sha256(json.dumps([SCHEME, columns, primary_key]).encode()).hexdigest()[:16]
    return Path(folder) / FOLDER / f"{sha256}-{shape}.arrow"


def load(folder: Path | None, sha256: str | None, columns: list[str], primary_key: list[str]) -> RowDigests | None:
    """The digests kept for these bytes (None when none were kept, or they cannot be read: they are then computed
    again)."""
    if folder is None or not sha256:
        return None
    path = _path(folder, sha256, columns, primary_key)
    try:
        with pa.memory_map(str(path)) as source:
            table = pa.ipc.open_file(source).read_all()
        digests = table.column(_DIGEST).to_numpy()
        escape = table.schema.metadata.get(b"escape") == b"1"
        os.utime(path)  # recently used: kept when older files are deleted
    except (OSError, pa.ArrowException, KeyError, AttributeError):
        return None
    return with_keys(digests, table.select(primary_key).to_batches(), primary_key, escape)


def store(folder: Path | None, sha256: str | None, columns: list[str], primary_key: list[str],
          found: RowDigests) -> None:
    """Keep ``found`` for the next runs (written whole, then renamed: a reader never sees half a file); a cache:
    a failure to write only means the digests will be computed again."""
    if folder is None or not sha256:
        return
    target = _path(folder, sha256, columns, primary_key)
    arrays = ([found.key_columns.column(c) for c in primary_key] if primary_key else []) + [pa.array(found.digests)]
    table = pa.table(arrays, names=[*primary_key, _DIGEST]).replace_schema_metadata(
        {"escape": "1" if found.escape else "0"})
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_file(
                sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
            writer.write_table(table)
        os.replace(partial, target)
        _prune(target.parent)
    except (OSError, pa.ArrowException):
        partial.unlink(missing_ok=True)


def _prune(folder: Path) -> None:
    kept = sorted((p for p in folder.glob("*.arrow")), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in kept[KEPT_FILES:]:
        old.unlink(missing_ok=True)
