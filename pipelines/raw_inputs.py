"""The committed raw snapshots of the live sources, as input files for the pipeline.

Downstream steps read only committed partitions (never a ``.partial`` one) and only the files their manifest
lists, so a crawl in progress or a killed one never leaks half a day into the tables.
"""

from __future__ import annotations

from pathlib import Path

from scrapers.snapshots import SnapshotError, SnapshotStore, check_file_name


def raw_files(raw_root: Path, source: str, partitions: list[str] | None = None) -> list[Path]:
    store = SnapshotStore(raw_root, source)
    files = []
    for partition in sorted(partitions if partitions is not None else store.partitions()):
        folder = store.partition_dir(partition)
        if not folder.is_dir():
            continue
        for entry in store.read_manifest(partition):
            try:
                name = check_file_name(entry.file)
            except SnapshotError:
                continue  # a manifest line naming a path out of its partition ("../x") is never read
            files.append(folder / name)
    return files


def has_raw_data(raw_root: Path, source: str) -> bool:
    return bool(SnapshotStore(raw_root, source).partitions()) if Path(raw_root).is_dir() else False
