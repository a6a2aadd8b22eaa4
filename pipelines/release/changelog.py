"""What changed between two publications: per-table row differences, ``releases.json`` and ``CHANGELOG.md``.

Rows are compared as text, as published (CSV read with ``dtype=str`` and no NA conversion), so "modifiée" means
"a published value changed", whatever its type. Each row is reduced to a 64-bit hash while the CSV is read by
blocks: a million-row table is compared without holding two copies of it in memory.

``releases.json`` (the machine-readable history, newest last) is the source of truth; ``CHANGELOG.md`` (newest
first) is regenerated from it each time, so the two never disagree. Both are written atomically.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .. import row_digests
from ..background import Background
from ..row_digests import RowDigests
from ..sorted_keys import repeated_in_order
from ._files import atomic_write_text, file_size, inside, sha256_file
from .archive import RELEASES_NAME
from .sums import SUMS_NAME, read_sha256sums

CHANGELOG_NAME = "CHANGELOG.md"
BLOCK_BYTES = 16 << 20  # a block of the CSV read at a time: a million-row table is not held twice in memory
# From this size (both versions), the previous version of a table is hashed in a forked process beside the current.
PARALLEL_MIN_BYTES = 32 << 20


@dataclass(frozen=True)
class Version:
    """One version of a table: its CSV and, when known, the sha256 of its bytes (the digests of its rows may then
    have been kept, row_digests)."""
    path: Path
    sha256: str | None = None


def _read_hashed(path: Path, primary_key: list[str], columns: list[str]) -> RowDigests:
    """One digest of ``columns`` per row, read by blocks with Arrow's CSV reader (every value as its text, quoted
    line breaks allowed), plus the primary key's texts."""
    try:
        hasher = row_digests.Hasher(primary_key, row_digests.holds_separator(path))
        reader = pacsv.open_csv(
            path, read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in columns},
                                                 include_columns=columns, strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False))
        for batch in reader:
            hasher.add(batch, columns)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ValueError(f"{path} : CSV illisible ({exc})") from exc
    return hasher.result()


def _hashed(version: Version, primary_key: list[str], columns: list[str], cache: Path | None) -> RowDigests:
    """The version's row digests: those kept for its bytes (by the checks that published it), or read."""
    found = row_digests.load(cache, version.sha256, columns, primary_key)
    if found is None:
        found = _read_hashed(version.path, primary_key, columns)
        row_digests.store(cache, version.sha256, columns, primary_key, found)
    return found


def _check_unique(hashed: RowDigests, path: Path, primary_key: list[str]) -> None:
    if _unique_in_order(hashed) or pc.count_distinct(hashed.keys).as_py() == len(hashed):
        return
    first = int(np.argmax(pd.Series(hashed.keys.to_numpy(zero_copy_only=False)).duplicated().to_numpy()))
    key = tuple(hashed.key_columns.slice(first, 1).to_pylist()[0][c] for c in primary_key)
    raise ValueError(f"{path} : clé primaire ({', '.join(primary_key)}) en double : {key}")


def _unique_in_order(hashed: RowDigests) -> bool:
    """True when the keys are in order and all distinct, found between neighbours (a published table is sorted by
    its key): no hashing of a million keys. A column of integers (titulaires' rang) is compared as numbers, as it
    is sorted: equal texts being equal numbers, distinct numbers are distinct texts."""
    columns = []
    for column in hashed.key_columns.columns:
        try:
            columns.append(pc.cast(column, pa.int64()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            columns.append(column)
    repeated = repeated_in_order(columns)
    return repeated is not None and not repeated.any()


def _compare_keyed(previous: RowDigests, current: RowDigests) -> dict:
    """Rows matched by their key (a hash join in Arrow: pandas' outer merge of a million text keys took 3 s)."""
    at = pc.fill_null(pc.index_in(current.keys, value_set=previous.keys.combine_chunks()), -1).to_numpy()
    found = at >= 0
    matched = int(found.sum())
    unchanged = int((previous.digests[at[found]] == current.digests[found]).sum())
    return {"ajoutees": len(current) - matched, "supprimees": len(previous) - matched,
            "modifiees": matched - unchanged, "inchangees": unchanged}


def _header(path: Path) -> list[str]:
    try:
        return list(pd.read_csv(path, dtype=str, keep_default_na=False, nrows=0).columns)
    except pd.errors.EmptyDataError:
        return []
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} : CSV illisible ({exc})") from exc


def _check_key(path: Path, header: list[str], primary_key: list[str]) -> None:
    missing = [c for c in primary_key if c not in header]
    if missing:
        raise ValueError(f"{path} : colonne(s) de clé primaire absente(s) : {', '.join(missing)}")


def _diff_counts(previous: Version | None, current: Version, primary_key: list[str], cache: Path | None = None,
                 checked: bool = False) -> tuple[dict, int]:
    """``cache``: where row digests are kept (row_digests); ``checked``: the current version's rows were just checked
    (table_checks), its primary key unique included."""
    current_header = _header(current.path)
    _check_key(current.path, current_header, primary_key)
    previous_header = _header(previous.path) if previous is not None else current_header
    if previous is not None:
        _check_key(previous.path, previous_header, primary_key)
    # Rows are compared on the columns both versions have; added or removed columns are reported apart.
    common = [c for c in current_header if c in previous_header]
    # A version whose digests were not kept is read and hashed; the previous one in a forked process while this one
    # reads the current one (a national table read in half the time).
    prev = row_digests.load(cache, previous.sha256, common, primary_key) if previous is not None else None
    pending = None
    if previous is not None and prev is None:
        pending = Background(_hashed, previous, primary_key, common, cache, fork=file_size(
            previous.path) >= PARALLEL_MIN_BYTES and file_size(current.path) >= PARALLEL_MIN_BYTES)
    try:
        cur = _hashed(current, primary_key, common, cache)
        if pending is not None:
            prev = pending.result()
    finally:
        if pending is not None:
            pending.cancel()
    if primary_key:
        if not checked:
            _check_unique(cur, current.path, primary_key)
        if previous is not None:
            _check_unique(prev, previous.path, primary_key)
            diff = _compare_keyed(prev, cur)
        else:
            diff = {"ajoutees": len(cur), "supprimees": 0, "modifiees": 0, "inchangees": 0}
    else:
        # No key: the table is a multiset of whole rows; a changed row counts as one removed and one added.
        before = pd.Series(prev.digests if prev is not None else cur.digests[:0]).value_counts()
        after = pd.Series(cur.digests).value_counts()
        before, after = before.align(after, fill_value=0)
        diff = {
            "ajoutees": int((after - before).clip(lower=0).sum()),
            "supprimees": int((before - after).clip(lower=0).sum()),
            "modifiees": 0,
            "inchangees": int(pd.concat([before, after], axis=1).min(axis=1).sum()),
        }
    if previous is not None:
        added = [c for c in current_header if c not in previous_header]
        removed = [c for c in previous_header if c not in current_header]
        if added:
            diff["colonnes_ajoutees"] = added
        if removed:
            diff["colonnes_supprimees"] = removed
    return diff, len(cur)


def diff_tables(previous: Path | None, current: Path, primary_key: list[str]) -> dict:
    """Row differences from the CSV ``previous`` (None: nothing before, every row is added) to ``current``:
    ``{"ajoutees", "supprimees", "modifiees", "inchangees"}`` (+ "colonnes_ajoutees" / "colonnes_supprimees" when
    the columns changed). Without primary key (empty list), rows are compared whole, as a multiset, and
    "modifiees" is 0."""
    return _diff_counts(Version(Path(previous)) if previous is not None else None, Version(Path(current)),
                        list(primary_key))[0]


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path} : illisible ({exc.strerror or exc})") from exc
    except ValueError as exc:
        raise ValueError(f"{path} : JSON invalide ({exc})") from exc


def _csv_tables(folder: Path) -> dict[str, dict]:
    """CSV resources of ``folder/datapackage.json``, by table name, in datapackage order."""
    package = _read_json(folder / "datapackage.json")
    resources = package.get("resources") if isinstance(package, dict) else None
    if not isinstance(resources, list):
        raise ValueError(f"{folder / 'datapackage.json'} : pas de liste « resources »")
    return {r["name"]: r for r in resources
            if isinstance(r, dict) and r.get("name") and r.get("path") and str(r.get("format", "csv")) == "csv"}


def primary_keys_from_package(folder: Path) -> dict[str, list[str]]:
    """Primary keys of the tables of the publication in ``folder``, read from the schemas its datapackage names
    (inline schema or relative path); a table without ``primaryKey`` gets []."""
    folder = Path(folder)
    keys = {}
    for name, resource in _csv_tables(folder).items():
        schema = resource.get("schema")
        if isinstance(schema, str):
            target = inside(folder, schema)
            if target is None:
                raise ValueError(f"{folder / 'datapackage.json'} : schéma de « {name} » hors du dossier : {schema}")
            schema = _read_json(target)
        key = (schema or {}).get("primaryKey") or []
        keys[name] = [key] if isinstance(key, str) else list(key)
    return keys


def _parquet_rows(path: Path) -> int | None:
    try:
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    except Exception:  # a missing pyarrow or an unreadable footer must not block the release record
        return None


def _files_of(folder: Path, files: list[str] | None) -> list[str]:
    if files is not None:
        return list(files)
    if (folder / SUMS_NAME).is_file():
        # The publication's own list of files, plus the list itself.
        return sorted({relative for _, relative in read_sha256sums(folder)} | {SUMS_NAME})
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _sums_of(folder: Path) -> dict[str, str]:
    """sha256 by relative path from the folder's SHA256SUMS; none when it has no readable list."""
    try:
        return {relative: digest for digest, relative in read_sha256sums(folder)}
    except (OSError, ValueError):
        return {}


def _same_bytes(digests: dict[str, str] | None, relative: str, previous_digests: dict[str, str],
                previous_relative: str) -> bool:
    known = (digests or {}).get(relative)
    return known is not None and previous_digests.get(previous_relative) == known


def release_manifest(folder: Path, previous_snapshot: Path | None, primary_keys: dict[str, list[str]] | None,
                     version: str, date: dt.datetime | None = None, files: list[str] | None = None,
                     digests: dict[str, str] | None = None, checked: bool = False, cache: Path | None = None) -> dict:
    """The ``releases.json`` entry of the publication in ``folder`` (or its snapshot), named ``version``.

    ``previous_snapshot``: the previous snapshot folder, None for the first release. ``primary_keys``:
    ``{table: [columns]}``; None reads them from the datapackage's schemas. ``files``: relative paths to list
    (default: those of SHA256SUMS, plus SHA256SUMS). ``date``: default now (UTC). ``digests``: sha256 already
    known by relative path (the publisher's own SHA256SUMS), not computed again. ``checked``: the publisher has just
    checked every row of the folder's tables (table_checks), so a table with nothing before it takes its row count
    from ``nb_lignes`` instead of being read again. ``cache``: where the digests of published rows are kept
    (row_digests, by sha256: those of ``digests`` and of the previous snapshot's SHA256SUMS)."""
    folder = Path(folder)
    previous = Path(previous_snapshot) if previous_snapshot is not None else None
    keys = primary_keys if primary_keys is not None else primary_keys_from_package(folder)
    current_tables = _csv_tables(folder)
    previous_tables = _csv_tables(previous) if previous is not None and (previous / "datapackage.json").is_file() \
        else {}
    previous_digests = _sums_of(previous) if previous is not None else {}
    changes: dict[str, dict] = {}
    csv_rows: dict[str, int] = {}
    for name, resource in current_tables.items():
        current_path = inside(folder, resource["path"])
        if current_path is None or not current_path.is_file():
            raise FileNotFoundError(f"{folder / resource['path']} : table « {name} » introuvable")
        before = None
        if previous is not None:
            relative = previous_tables.get(name, {}).get("path", resource["path"])
            candidate = inside(previous, relative)
            before = candidate if candidate is not None and candidate.is_file() else None
        declared = resource.get("nb_lignes")
        counted = checked and isinstance(declared, int) and not isinstance(declared, bool)
        if before is None and counted:
            # Nothing to compare with: every row is added, and the publisher counted (and checked) them.
            diff, rows = {"ajoutees": declared, "supprimees": 0, "modifiees": 0, "inchangees": 0}, declared
        elif counted and before is not None and _same_bytes(digests, resource["path"], previous_digests, relative):
            # The very bytes of the previous version (as its SHA256SUMS says): every row is unchanged; a daily run
            # whose contracts did not change does not read two national tables again.
            diff, rows = {"ajoutees": 0, "supprimees": 0, "modifiees": 0, "inchangees": declared}, declared
        else:
            diff, rows = _diff_counts(
                Version(before, previous_digests.get(relative)) if before is not None else None,
                Version(current_path, (digests or {}).get(resource["path"])), list(keys.get(name, [])), cache,
                checked)
        if previous is not None and before is None:
            diff["table"] = "nouvelle"
        # Kept beside the counts so that the changelog can say how rows were compared.
        diff["cle_primaire"] = list(keys.get(name, []))
        changes[name] = diff
        csv_rows[resource["path"]] = rows
    for name, resource in previous_tables.items():
        if name not in current_tables:
            gone = inside(previous, resource["path"])
            rows = _diff_counts(None, Version(gone), [])[1] if gone is not None and gone.is_file() else 0
            changes[name] = {"ajoutees": 0, "supprimees": rows, "modifiees": 0, "inchangees": 0, "table": "retiree"}

    listed = []
    for relative in _files_of(folder, files):
        target = inside(folder, relative)
        if target is None or not target.is_file():
            raise FileNotFoundError(f"{folder / relative} : fichier introuvable pour le relevé de publication")
        rows = csv_rows.get(relative)
        if rows is None and relative.endswith(".parquet"):
            rows = _parquet_rows(target)
        listed.append({"path": relative, "sha256": (digests or {}).get(relative) or sha256_file(target),
                       "bytes": target.stat().st_size,
                       "rows": rows})
    when = date or dt.datetime.now(dt.timezone.utc)
    return {
        "version": version,
        "date": when.isoformat(timespec="seconds"),
        "precedente": previous.name if previous is not None else None,
        "fichiers": listed,
        "changements": changes,
    }


def _n(value: int) -> str:
    return f"{value:,}".replace(",", " ")


def _plural(value: int, singular: str, plural: str) -> str:
    return f"{_n(value)} {singular if value == 1 else plural}"


def _table_line(table: str, diff: dict) -> str:
    added, removed, changed = diff.get("ajoutees", 0), diff.get("supprimees", 0), diff.get("modifiees", 0)
    if diff.get("table") == "retiree":
        return f"- {table} : table retirée ({_plural(removed, 'ligne supprimée', 'lignes supprimées')})"
    total = added + changed + diff.get("inchangees", 0)
    line = f"- {table} : {_plural(added, 'ligne ajoutée', 'lignes ajoutées')}, "
    if "cle_primaire" in diff and not diff["cle_primaire"]:
        line += f"{_plural(removed, 'supprimée', 'supprimées')} ({_n(total)} au total ; table sans clé primaire, " \
                "lignes comparées en entier)"
    else:
        line += f"{_plural(changed, 'modifiée', 'modifiées')}, {_plural(removed, 'supprimée', 'supprimées')} " \
                f"({_n(total)} au total)"
    if diff.get("table") == "nouvelle":
        line += " — nouvelle table"
    if diff.get("colonnes_ajoutees"):
        line += f" ; colonnes ajoutées : {', '.join(diff['colonnes_ajoutees'])}"
    if diff.get("colonnes_supprimees"):
        line += f" ; colonnes supprimées : {', '.join(diff['colonnes_supprimees'])}"
    return line


def render_changelog(releases: list[dict]) -> str:
    """CHANGELOG.md text for ``releases`` (oldest first in the list, newest first in the text)."""
    lines = ["# Journal des publications", "",
             f"Généré à partir de `{RELEASES_NAME}` ; la publication la plus récente en premier. Lignes comparées "
             "sur la clé primaire de chaque table (une ligne « modifiée » a au moins une valeur publiée différente).",
             ""]
    for entry in reversed(releases):
        lines.append(f"## {str(entry.get('date', ''))[:10]} — publication {entry.get('version')}")
        lines.append("")
        if not entry.get("precedente"):
            lines.append("Première publication archivée.")
            lines.append("")
        for table, diff in (entry.get("changements") or {}).items():
            lines.append(_table_line(table, diff))
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def write_changelog(archive_root: Path, entry: dict) -> tuple[Path, Path]:
    """Add ``entry`` (from ``release_manifest``) to ``archive_root/releases.json`` — replacing an entry of the same
    version, so a retried run does not list a release twice — and regenerate ``archive_root/CHANGELOG.md``.
    Returns both paths."""
    archive_root = Path(archive_root)
    releases_path = archive_root / RELEASES_NAME
    releases = _read_json(releases_path) if releases_path.is_file() else []
    if not isinstance(releases, list):
        raise ValueError(f"{releases_path} : liste de publications attendue")
    if not isinstance(entry, dict) or not entry.get("version"):
        raise ValueError(f"{releases_path} : entrée de publication sans « version »")
    releases = [r for r in releases if not (isinstance(r, dict) and r.get("version") == entry["version"])]
    releases.append(entry)
    atomic_write_text(releases_path, json.dumps(releases, ensure_ascii=False, indent=2) + "\n")
    changelog_path = archive_root / CHANGELOG_NAME
    atomic_write_text(changelog_path, render_changelog(releases))
    return releases_path, changelog_path
