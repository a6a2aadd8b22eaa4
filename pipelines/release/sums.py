"""SHA256SUMS of a publication, in the format of ``sha256sum`` so that ``sha256sum -c SHA256SUMS`` checks it.

Each line is ``<64 hex>  <relative posix path>`` (two spaces: text mode in coreutils' notation), sorted by path.
Verification never opens a path that leaves the folder: the file may come from a download, and a line such as
``../../etc/passwd`` must be reported, not hashed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ._files import atomic_write_text, inside, sha256_file, unsafe_relative

SUMS_NAME = "SHA256SUMS"
# coreutils writes "  " (text) or " *" (binary) between hash and name; accept both when reading.
_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


def _listed(folder: Path, exclude_dirs: tuple[str, ...]) -> list[str]:
    found = []
    for root, dirs, names in os.walk(folder):
        here = Path(root)
        if here == folder:
            dirs[:] = [d for d in dirs if d not in exclude_dirs]
        dirs.sort()
        for name in names:
            path = here / name
            relative = path.relative_to(folder).as_posix()
            if relative == SUMS_NAME or path.is_symlink():
                # Symbolic links are not publication files (and may point anywhere).
                continue
            if "\n" in relative or "\\" in relative:
                # sha256sum would escape such names; our readers (and most users) would not cope.
                raise ValueError(f"{path} : nom de fichier avec saut de ligne ou barre oblique inverse, "
                                 "impossible à lister dans SHA256SUMS")
            found.append(relative)
    return sorted(found)


def write_sha256sums(folder: Path, exclude_dirs: tuple[str, ...] = ("archive",),
                     known: dict[str, str] | None = None) -> Path:
    """Write ``folder/SHA256SUMS`` for every file under ``folder`` except SHA256SUMS itself, symbolic links and
    the top-level folders named in ``exclude_dirs``; return its path. Written atomically. ``known``: digests the
    caller computed from the bytes it wrote (relative path → sha256), not read again (a national table is
    hundreds of MB)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} : dossier de publication introuvable")
    known = known or {}
    lines = [f"{known.get(relative) or sha256_file(folder / relative)}  {relative}\n"
             for relative in _listed(folder, exclude_dirs)]
    target = folder / SUMS_NAME
    atomic_write_text(target, "".join(lines))
    return target


def read_sha256sums(folder: Path) -> list[tuple[str, str]]:
    """(hash, relative path) pairs of ``folder/SHA256SUMS``, in file order; no check of the paths here."""
    pairs = []
    text = (Path(folder) / SUMS_NAME).read_text(encoding="utf-8")
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            pairs.append((match.group(1).lower(), match.group(2)))
    return pairs


def verify_sha256sums(folder: Path, strict: bool = False, exclude_dirs: tuple[str, ...] = ("archive",)) -> list[str]:
    """Problems found checking ``folder`` against its SHA256SUMS (empty list: all good).

    Reported: a missing or unreadable SHA256SUMS, malformed lines, paths that are absolute, contain ".." or
    resolve outside the folder (never opened), listed twice, missing files, hash mismatches. ``strict``: also
    report files present in the folder but not listed (outside ``exclude_dirs``)."""
    folder = Path(folder)
    sums = folder / SUMS_NAME
    try:
        text = sums.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [f"{sums} : fichier absent"]
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{sums} : illisible ({getattr(exc, 'strerror', None) or exc})"]
    problems: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if not match:
            problems.append(f"{SUMS_NAME} ligne {number} : format invalide (attendu « <sha256>  <chemin> »)")
            continue
        expected, relative = match.group(1).lower(), match.group(2)
        reason = unsafe_relative(relative)
        target = None if reason else inside(folder, relative)
        if target is None:
            problems.append(f"{SUMS_NAME} ligne {number} : {relative} : {reason or 'chemin qui sort du dossier'} "
                            "(refusé, non lu)")
            continue
        if relative in seen:
            problems.append(f"{SUMS_NAME} ligne {number} : {relative} : listé deux fois")
            continue
        seen.add(relative)
        if not target.is_file():
            problems.append(f"{relative} : fichier absent")
            continue
        try:
            actual = sha256_file(target)
        except OSError as exc:
            problems.append(f"{relative} : illisible ({exc.strerror or exc})")
            continue
        if actual != expected:
            problems.append(f"{relative} : empreinte sha256 différente (attendue {expected}, obtenue {actual})")
    if strict:
        problems += [f"{relative} : présent mais absent de {SUMS_NAME}"
                     for relative in _listed(folder, exclude_dirs) if relative not in seen]
    return problems
