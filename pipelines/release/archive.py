"""Dated, immutable snapshots of the publication: ``<archive_root>/<YYYY-MM-DD>[.N]/`` with the same relative paths.

Why:
- Hard links (``os.link``) make a snapshot of the current publication cost no space; when the publication is
  replaced, only the snapshot keeps the old bytes. A file identical to the one in the previous snapshot is linked
  to that one instead, so unchanged tables and schemas are stored once across releases. Copy when linking fails
  (another filesystem, a filesystem without links).
- A snapshot is built in a hidden temporary folder then renamed into place: a crash leaves no half snapshot under
  a dated name, and two runs the same day cannot both take the same name (rename onto a non-empty folder fails).
- Files are made read-only: a snapshot is never modified. Because of the hard links, this also makes the linked
  files of the live publication read-only; the publisher replaces folders, it never rewrites files in place.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import re
import shutil
import stat
import uuid
from pathlib import Path

from ._files import inside, sha256_file, unsafe_relative

RELEASES_NAME = "releases.json"
_SNAPSHOT = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\.(\d+))?$")
_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


def snapshot_sort_key(name: str) -> tuple[str, int]:
    """Order of snapshot names: by day, then by rank in the day ("2026-11-26" < "2026-11-26.2" < ".10")."""
    match = _SNAPSHOT.match(name)
    if not match:
        raise ValueError(f"{name} : nom de snapshot invalide (AAAA-MM-JJ ou AAAA-MM-JJ.N attendu)")
    return match.group(1), int(match.group(2) or 1)


def _candidates(day: dt.date):
    yield day.isoformat()
    rank = 2
    while True:
        yield f"{day.isoformat()}.{rank}"
        rank += 1


def _same_bytes(a: Path, b: Path) -> bool:
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
        if os.path.samefile(a, b):
            return True
        return sha256_file(a) == sha256_file(b)
    except OSError:
        return False


def _place(source: Path, target: Path, reuse: Path | None) -> str:
    """Link ``target`` to ``reuse`` (identical file of the previous snapshot) or to ``source``; copy as a last
    resort. Returns how the file got there."""
    for origin, how in ((reuse, "lien vers le snapshot précédent"), (source, "lien")):
        if origin is None:
            continue
        try:
            os.link(origin, target)
            return how
        except OSError:
            # EXDEV (another filesystem), EPERM/ENOTSUP (no links), EMLINK (too many links): try the next way.
            continue
    shutil.copy2(source, target)
    return "copie"


def archive_snapshot(folder: Path, archive_root: Path, day: dt.date, files: list[str],
                     previous: Path | None = None) -> Path:
    """Snapshot ``files`` (paths relative to ``folder``) into ``archive_root/<day>/`` — or ``<day>.2``, ``.3``… when
    that day already has one — and return the snapshot folder. Existing snapshots are never touched.

    ``previous``: the previous snapshot folder; files with the same bytes there are linked to it."""
    folder, archive_root = Path(folder), Path(archive_root)
    if not files:
        raise ValueError(f"{folder} : aucun fichier à archiver")
    sources: dict[str, Path] = {}
    for relative in files:
        reason = unsafe_relative(relative)
        source = None if reason else inside(folder, relative)
        if source is None:
            raise ValueError(f"{relative} : {reason or 'chemin qui sort du dossier'} ; rien n'a été archivé")
        if not source.is_file():
            raise FileNotFoundError(f"{folder / relative} : fichier introuvable ; rien n'a été archivé")
        sources[relative] = source
    archive_root.mkdir(parents=True, exist_ok=True)
    temp = archive_root / f".en-cours-{day.isoformat()}-{uuid.uuid4().hex[:8]}"
    temp.mkdir()
    try:
        for relative, source in sorted(sources.items()):
            target = temp / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            older = previous / relative if previous is not None else None
            reuse = older if older is not None and older.is_file() and _same_bytes(older, source) else None
            _place(source, target, reuse)
            os.chmod(target, _READ_ONLY)
        for name in _candidates(day):
            final = archive_root / name
            if final.exists():
                continue
            try:
                os.rename(temp, final)
            except OSError as exc:
                # Another run took the name between the check and the rename: take the next one.
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) or final.exists():
                    continue
                raise
            return final
    except BaseException:
        # The temporary folder's files are read-only but its folders are not: it can be removed.
        shutil.rmtree(temp, ignore_errors=True)
        raise
    raise AssertionError("unreachable")


def latest_snapshot(archive_root: Path) -> Path | None:
    """The most recent snapshot folder: the last release of releases.json, else the highest dated folder."""
    archive_root = Path(archive_root)
    releases = archive_root / RELEASES_NAME
    if releases.is_file():
        try:
            entries = json.loads(releases.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(f"{releases} : JSON invalide ({exc})") from exc
        if isinstance(entries, list) and entries:
            version = entries[-1].get("version") if isinstance(entries[-1], dict) else None
            if isinstance(version, str) and _SNAPSHOT.match(version) and (archive_root / version).is_dir():
                return archive_root / version
    if not archive_root.is_dir():
        return None
    names = [p.name for p in archive_root.iterdir() if p.is_dir() and _SNAPSHOT.match(p.name)]
    return archive_root / max(names, key=snapshot_sort_key) if names else None
