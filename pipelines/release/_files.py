"""Small file helpers shared by the release modules: safe relative paths (hashing and atomic writes come from
pipelines.files)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

from ..files import atomic_write_bytes, atomic_write_text, file_size, sha256_file

__all__ = ["atomic_write_bytes", "atomic_write_text", "file_size", "inside", "sha256_file", "unsafe_relative"]

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
