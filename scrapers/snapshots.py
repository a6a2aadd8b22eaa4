"""Raw snapshot store: exactly the bytes each source returned, one folder per partition (no Scrapy import).

Layout under ``<root>/<source>/``::

    <partition>/                  complete partitions (YYYY-MM-DD for boamp/ted, YYYY-MM for decp)
        <file>                    one file per response, deterministic name (records-0000000100.json, …)
        manifest.jsonl            one JSON line per file: file, url, method, request_body, fetched_at,
                                  http_status, sha256, bytes, content_type
    .<partition>.partial/         a partition being written (or left by a killed / failed crawl: resumable)
    .<partition>.old-<id>/        the previous version while it is being replaced (recovered if interrupted)
    _crawls/<crawl-id>.json|.log  crawl stats and logs (scrapers.extensions, scrapers.crawl)

A partition is written into its ``.partial`` folder, file by file (file first, then its manifest line, both
fsynced), and swapped in whole by ``commit`` (two renames on one filesystem); an existing partition is replaced,
never merged. Downstream code only reads committed partitions (``partitions``, ``read_manifest``, ``verify``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from pipelines.files import sha256_file, swap_in

MANIFEST = "manifest.jsonl"
PARTITION_RE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")
# No leading dot (temporary files start with one), no path separator.
FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
SOURCE_RE = re.compile(r"^[a-z][a-z0-9_]{0,49}$")


class SnapshotError(Exception):
    """A snapshot could not be written or committed."""


@dataclass(frozen=True)
class ManifestEntry:
    file: str
    url: str
    method: str
    request_body: str | None
    fetched_at: str
    http_status: int
    sha256: str
    bytes: int
    content_type: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> ManifestEntry:
        return cls(
            file=str(data["file"]), url=str(data["url"]), method=str(data["method"]),
            request_body=data.get("request_body"), fetched_at=str(data["fetched_at"]),
            http_status=int(data["http_status"]), sha256=str(data["sha256"]), bytes=int(data["bytes"]),
            content_type=data.get("content_type"),
        )




def check_partition(partition: str) -> str:
    if not PARTITION_RE.match(partition):
        raise SnapshotError(f"partition {partition!r}: YYYY-MM-DD or YYYY-MM expected")
    return partition


def check_file_name(name: str) -> str:
    if not FILE_RE.match(name) or name == MANIFEST:
        raise SnapshotError(f"file name {name!r} not allowed in a snapshot")
    return name


def _read_manifest_lines(path: Path) -> Iterator[ManifestEntry]:
    """Entries of a manifest; a torn last line (killed while appending) is skipped."""
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                yield ManifestEntry.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError):
                continue


class SnapshotStore:
    """Partitions of one source under ``<root>/<source>``."""

    def __init__(self, root: Path | str, source: str, *, fsync: bool = True) -> None:
        if not SOURCE_RE.match(source):
            raise SnapshotError(f"source name {source!r} not allowed")
        self.root = Path(root)
        self.source = source
        self.base = self.root / source
        self.fsync = fsync

    # ---------------------------------------------------------------- paths
    def partition_dir(self, partition: str) -> Path:
        return self.base / check_partition(partition)

    def partial_dir(self, partition: str) -> Path:
        return self.base / f".{check_partition(partition)}.partial"

    def crawls_dir(self) -> Path:
        return self.base / "_crawls"

    # ---------------------------------------------------------------- reading (committed partitions)
    def partitions(self) -> list[str]:
        if not self.base.is_dir():
            return []
        return sorted(p.name for p in self.base.iterdir() if p.is_dir() and PARTITION_RE.match(p.name))

    def partials(self) -> list[str]:
        if not self.base.is_dir():
            return []
        names = (p.name[1:-len(".partial")] for p in self.base.glob(".*.partial") if p.is_dir())
        return sorted(n for n in names if PARTITION_RE.match(n))

    def read_manifest(self, partition: str, *, partial: bool = False) -> list[ManifestEntry]:
        folder = self.partial_dir(partition) if partial else self.partition_dir(partition)
        return list(_read_manifest_lines(folder / MANIFEST))

    def verify(self, partition: str) -> list[str]:
        """Problems of a committed partition (empty list: every manifest line matches its file, no stray file)."""
        folder = self.partition_dir(partition)
        if not folder.is_dir():
            return [f"{partition}: missing"]
        problems = []
        entries = self.read_manifest(partition)
        names = [e.file for e in entries]
        if len(names) != len(set(names)):
            problems.append(f"{partition}: duplicate manifest lines")
        for entry in entries:
            path = folder / entry.file
            if not path.is_file():
                problems.append(f"{partition}/{entry.file}: missing")
            elif path.stat().st_size != entry.bytes or sha256_file(path) != entry.sha256:
                problems.append(f"{partition}/{entry.file}: size or sha256 differs from the manifest")
        stray = {p.name for p in folder.iterdir()} - set(names) - {MANIFEST}
        problems.extend(f"{partition}/{name}: not in the manifest" for name in sorted(stray))
        return problems

    # ---------------------------------------------------------------- writing (partial partitions)
    def resumable_entries(self, partition: str) -> dict[str, ManifestEntry]:
        """Files a previous crawl saved in the partial partition and that are intact (last line per file wins)."""
        folder = self.partial_dir(partition)
        entries: dict[str, ManifestEntry] = {}
        for entry in _read_manifest_lines(folder / MANIFEST):
            entries[entry.file] = entry
        intact = {}
        for name, entry in entries.items():
            path = folder / name
            if path.is_file() and path.stat().st_size == entry.bytes and sha256_file(path) == entry.sha256:
                intact[name] = entry
        return intact

    def read_partial(self, partition: str, file_name: str) -> bytes:
        return (self.partial_dir(partition) / check_file_name(file_name)).read_bytes()

    def discard_partial(self, partition: str) -> None:
        shutil.rmtree(self.partial_dir(partition), ignore_errors=True)

    def write(self, partition: str, file_name: str, body: bytes, *, url: str, method: str = "GET",
              request_body: str | None = None, fetched_at: str, http_status: int,
              content_type: str | None = None) -> ManifestEntry:
        """Write one raw file into the partial partition, then append its manifest line."""
        check_file_name(file_name)
        folder = self.partial_dir(partition)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{file_name}.{uuid.uuid4().hex[:8]}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(body)
            fh.flush()
            if self.fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, folder / file_name)
        entry = ManifestEntry(
            file=file_name, url=url, method=method, request_body=request_body, fetched_at=fetched_at,
            http_status=int(http_status), sha256=hashlib.sha256(body).hexdigest(), bytes=len(body),
            content_type=content_type,
        )
        with open(folder / MANIFEST, "a", encoding="utf-8") as fh:
            fh.write(entry.to_json() + "\n")
            fh.flush()
            if self.fsync:
                os.fsync(fh.fileno())
        return entry

    def commit(self, partition: str) -> Path:
        """Check the partial partition, compact its manifest, and swap it in place of the committed one."""
        staging = self.partial_dir(partition)
        target = self.partition_dir(partition)
        if not staging.is_dir():
            raise SnapshotError(f"{partition}: nothing to commit")
        entries: dict[str, ManifestEntry] = {}
        for entry in _read_manifest_lines(staging / MANIFEST):
            entries[entry.file] = entry  # a file rewritten after a resume: the last line describes it
        if not entries:
            raise SnapshotError(f"{partition}: empty partition")
        for name, entry in entries.items():
            path = staging / name
            if not path.is_file() or path.stat().st_size != entry.bytes or sha256_file(path) != entry.sha256:
                raise SnapshotError(f"{partition}/{name}: file does not match its manifest line")
        for stray in staging.iterdir():  # temporary files of a killed write
            if stray.name != MANIFEST and stray.name not in entries:
                stray.unlink() if stray.is_file() else shutil.rmtree(stray, ignore_errors=True)
        tmp_manifest = staging / f".{MANIFEST}.tmp"
        with open(tmp_manifest, "w", encoding="utf-8") as fh:
            for name in sorted(entries):
                fh.write(entries[name].to_json() + "\n")
            fh.flush()
            if self.fsync:
                os.fsync(fh.fileno())
        os.replace(tmp_manifest, staging / MANIFEST)
        self.recover(partition)
        previous = self.base / f".{partition}.old-{uuid.uuid4().hex[:8]}"
        swap_in(staging, target, previous)
        shutil.rmtree(previous, ignore_errors=True)
        return target

    def recover(self, partition: str) -> None:
        """Put back a committed partition set aside by a swap that was interrupted; drop stale old copies."""
        target = self.partition_dir(partition)
        olds = sorted(self.base.glob(f".{partition}.old-*"), key=lambda p: p.stat().st_mtime)
        if not target.exists() and olds:
            os.rename(olds.pop(), target)
        for old in olds:
            shutil.rmtree(old, ignore_errors=True)
