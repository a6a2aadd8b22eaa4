"""Small file helpers shared by the release modules: hashing, atomic writes, safe relative paths."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path, PurePosixPath, PureWindowsPath

_BLOCK = 1 << 20


def sha256_file(path: Path) -> str:
    # Read by blocks: published tables can weigh hundreds of MB.
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


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


def unsafe_relative(relative: str) -> str | None:
    """Why ``relative`` cannot name a file inside a folder (absolute, "..", empty…), or None when it can.

    Checked on the text only, so that a hostile path is refused without touching the filesystem."""
    if not relative or relative.strip() != relative:
        return "chemin vide ou entouré d'espaces"
    if "\x00" in relative or "\\" in relative:
        return "caractère interdit dans le chemin"
    if PurePosixPath(relative).is_absolute() or PureWindowsPath(relative).is_absolute() or PureWindowsPath(relative).drive:
        return "chemin absolu"
    parts = PurePosixPath(relative).parts
    if any(part in ("..", ".") for part in parts) or relative.endswith("/"):
        return "chemin qui sort du dossier ou n'est pas normalisé"
    return None


def inside(folder: Path, relative: str) -> Path | None:
    """``folder/relative`` when it stays inside ``folder`` once symbolic links are resolved, else None."""
    if unsafe_relative(relative):
        return None
    root = Path(folder).resolve()
    target = (root / relative).resolve()
    try:
        target.relative_to(root)
    except ValueError:
        return None
    return target
