"""File mechanics shared by the publisher, the release tools and the raw snapshot store: hashing, atomic writes,
and the two-rename swap of a folder. Standard library only (the crawlers import it too)."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

_BLOCK = 1 << 20


def sha256_file(path: Path) -> str:
    # Read by blocks: published tables and raw pages can weigh hundreds of MB.
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_size(path: Path) -> int:
    """The file's size in bytes; 0 when it cannot be read (absent, unreadable)."""
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write beside the target then rename: a reader never sees half a file, a crash leaves the old one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with temp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        if temp.exists():
            temp.unlink()


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def swap_in(staging: Path, target: Path, previous: Path) -> None:
    """Put the folder ``staging`` in place of ``target``: two renames on one filesystem, the old folder set aside
    as ``previous`` (left for the caller to remove). Interrupted between the renames, the old folder is put back;
    killed there, the caller's recovery finds it by its name."""
    if target.exists():
        os.rename(target, previous)
    try:
        os.rename(staging, target)
    except BaseException:
        if previous.exists() and not target.exists():
            os.rename(previous, target)
        raise
