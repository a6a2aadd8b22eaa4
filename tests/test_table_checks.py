"""The vectorised Table Schema checks (pipelines/table_checks.py) report what Frictionless reports.

Both run on the publication of all the real samples (clean: no error either way) and on copies deliberately
corrupted cell by cell (wrong types, values off the constraints, duplicate and empty keys, a dangling foreign key,
a blank row, a file changed after its hash was written): the errors must be the same, row for row, field for field,
type for type. Structural damage (labels, cell counts) is handed to Frictionless itself.
"""

from __future__ import annotations

import collections
import csv
import json
import shutil
from pathlib import Path

import pytest

from pipelines import pipeline, sorted_keys, table_checks
from pipelines.files import sha256_file

# Errors whose field Frictionless does not name (or names differently): compared on row and type only.
_ROW_LEVEL = ("primary-key", "blank-row", "foreign-key")


def _ours(folder: Path) -> collections.Counter:
    package = json.loads((folder / "datapackage.json").read_text())
    found = table_checks.check_package(folder, package, lambda rel: json.loads((folder / rel).read_text()))
    return collections.Counter((e.table, e.row, None if e.type in _ROW_LEVEL else e.field, e.type) for e in found)


def _frictionless(folder: Path) -> collections.Counter:
    from frictionless import validate

    report = validate(folder / "datapackage.json", limit_errors=10**9)
    found = collections.Counter()
    for task in report.tasks:
        for error in task.errors:
            d = error.to_descriptor()
            found[(task.name, d.get("rowNumber"), None if d["type"] in _ROW_LEVEL else d.get("fieldName"),
                   d["type"])] += 1
    return found


@pytest.fixture(scope="module")
def real_publication(real_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("checks") / "published"
    pipeline.run_from_files([real_data / "decp"], out)
    return out


def test_clean_real_publication_same_verdict(real_publication):
    ours, theirs = _ours(real_publication), _frictionless(real_publication)
    assert ours == theirs == collections.Counter()


def _edit(path: Path, edits: dict[tuple[int, str], str], extra_rows: list[dict] | None = None) -> None:
    """Set cells (data row index from 0, column) and append rows, keeping the file a well-formed CSV."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        names, rows = reader.fieldnames, list(reader)
    for (index, column), value in edits.items():
        rows[index][column] = value
    rows += extra_rows or []
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _rehash(folder: Path, table: str) -> None:
    package_path = folder / "datapackage.json"
    package = json.loads(package_path.read_text())
    for resource in package["resources"]:
        if resource["name"] == table:
            path = folder / resource["path"]
            resource["hash"], resource["bytes"] = f"sha256:{sha256_file(path)}", path.stat().st_size
    package_path.write_text(json.dumps(package, ensure_ascii=False, indent=2))


CORRUPT_MARCHES = {
    (0, "montant"): "12 345,50", (1, "montant"): "-5", (2, "montant"): "0.0099999999999999999",
    (3, "montant"): "1e3", (4, "montant"): "NaN", (5, "montant"): " 42.5 ", (6, "montant"): "inf",
    (7, "code_cpv"): "1234567", (8, "code_cpv"): "4521000\n", (9, "procedure"): "Procédure inconnue",
    (10, "date_notification"): "2024-02-30", (11, "date_notification"): "24/02/2024",
    (12, "date_notification"): "2024-1-5", (13, "date_notification"): "0000-01-01",
    (14, "innovant"): "peut-être", (15, "innovant"): "True", (16, "duree_mois"): "12.5",
    (17, "duree_mois"): " 12 ", (18, "duree_mois"): "1_000", (19, "duree_mois"): "-1",
    (20, "anomalies"): "Abc", (21, "anomalies"): "montant_texte|é", (22, "innovation_score"): "1.5",
    (23, "innovation_score"): "1.0", (24, "uid"): "", (25, "nb_titulaires"): "99999999999999999999",
    (26, "marche_innovant_declare"): "", (27, "types_prix"): "Définitif ferme|Autre",
    (28, "types_prix"): "Définitif ferme|Provisoire", (29, "format_source"): "decp-2030-json",
}


@pytest.mark.parametrize("block_bytes", [table_checks.BLOCK_BYTES, 16 << 10], ids=["one-block", "many-blocks"])
def test_corrupted_tables_same_errors(real_publication, tmp_path, monkeypatch, block_bytes):
    # Small blocks: the rows are checked block after block (row numbers, blank rows and keys across blocks).
    monkeypatch.setattr(table_checks, "BLOCK_BYTES", block_bytes)
    folder = tmp_path / "corrupted"
    shutil.copytree(real_publication, folder)
    data = folder / "data"
    with (data / "marches.csv").open(encoding="utf-8", newline="") as handle:
        marches = list(csv.DictReader(handle))
    edits = dict(CORRUPT_MARCHES)
    edits[(30, "uid")] = marches[31]["uid"]  # duplicate primary key
    _edit(data / "marches.csv", edits)
    _edit(data / "titulaires.csv", {(0, "uid"): "00000000000000inexistant", (1, "rang"): "0", (2, "rang"): "x"})
    names = json.loads((folder / "schemas" / "rejets.json").read_text())["fields"]
    _edit(data / "rejets.csv", {(0, "position"): "-3"}, extra_rows=[{f["name"]: "" for f in names}])
    for table in ("marches", "titulaires", "rejets"):
        _rehash(folder, table)
    _edit(data / "indicateurs.csv", {(0, "valeur"): "2"})  # changed after its hash was written
    ours, theirs = _ours(folder), _frictionless(folder)
    assert ours == theirs
    kinds = {key[3] for key in ours}
    assert {"type-error", "constraint-error", "primary-key", "foreign-key", "blank-row", "hash-count",
            "byte-count"} <= kinds
    assert sum(ours.values()) >= len(CORRUPT_MARCHES)
    # Tables checked side by side report what one thread reports, in the same order: table after table (those
    # referenced by foreign keys first), the file's bytes first, then by row and field.
    package = json.loads((folder / "datapackage.json").read_text())
    side_by_side = table_checks.check_package(folder, package, lambda rel: json.loads((folder / rel).read_text()))
    monkeypatch.setattr(table_checks, "THREADS", 1)
    assert table_checks.check_package(folder, package, lambda rel: json.loads((folder / rel).read_text())) \
        == side_by_side
    tables = list(dict.fromkeys(e.table for e in side_by_side))
    assert tables.index("marches") < tables.index("titulaires")
    for table in tables:
        errors = [e for e in side_by_side if e.table == table]
        in_file = [e for e in errors if e.row is None]
        assert errors[:len(in_file)] == in_file
        rows = errors[len(in_file):]
        assert rows == sorted(rows, key=lambda e: (e.row, e.field_number or 0))
    if block_bytes < table_checks.BLOCK_BYTES:
        blocks = list(table_checks.csv_string_blocks(data / "marches.csv", [
            f["name"] for f in json.loads((folder / "schemas" / "marches.json").read_text())["fields"]]))
        assert len(blocks) > 3


def test_structural_damage_is_left_to_frictionless(real_publication, tmp_path):
    folder = tmp_path / "damaged"
    shutil.copytree(real_publication, folder)
    path = folder / "data" / "qualite.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text(lines[0] + lines[1].rstrip("\n") + ",surplus\n" + "".join(lines[2:]), encoding="utf-8")
    package = json.loads((folder / "datapackage.json").read_text())
    with pytest.raises(table_checks.StructureError):
        table_checks.check_package(folder, package, lambda rel: json.loads((folder / rel).read_text()))
    renamed = folder / "data" / "rejets.csv"
    text = renamed.read_text(encoding="utf-8")
    renamed.write_text(text.replace("motif", "raison", 1), encoding="utf-8")
    with pytest.raises(table_checks.StructureError):
        table_checks.check_table(renamed, json.loads((folder / "schemas" / "rejets.json").read_text()))


def test_frictionless_still_judges_the_package_metadata(real_publication, tmp_path):
    from pipelines.publish import PublicationError, _frictionless_sample

    package = json.loads((real_publication / "datapackage.json").read_text())
    _frictionless_sample(real_publication, package)  # the published package passes
    folder = tmp_path / "metadata"
    shutil.copytree(real_publication, folder)
    package["licenses"] = [{"titre": "sans nom ni chemin"}]
    (folder / "datapackage.json").write_text(json.dumps(package, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(PublicationError, match="license"):
        _frictionless_sample(folder, package)


DATES = ["2024-02-29", "2023-02-29", "1900-02-29", "2000-02-29", "2024-04-31", "2024-04-30", "2024-13-01",
         "2024-00-10", "2024-01-00", "2024-12-31", "9999-12-31", "1000-01-01", "1969-12-31", "1970-01-01",
         "2024-1-05", "24/02/2024", "0999-01-01", "", "2024-02-30 ", "2025-06-15"]


@pytest.mark.parametrize("offset", [0, 3], ids=["whole", "slice"])
def test_dates_read_as_frictionless_reads_them(offset):
    """Each date cell typed as Python's strptime types it (Frictionless' rule): real dates kept, the rest errors."""
    import datetime as dt

    import pyarrow as pa

    raw = pa.array(["x"] * offset + DATES).slice(offset)
    column = table_checks.read_column({"name": "d", "type": "date"}, raw, [""])
    for index, cell in enumerate(DATES):
        try:
            expected = dt.datetime.strptime(cell, "%Y-%m-%d").date()
        except ValueError:
            expected = None
        assert column.values[index].as_py() == expected, cell
        assert bool(column.bad[index]) == (expected is None and cell != ""), cell
    assert column.bad.sum() == 8 and column.missing.sum() == 1


def test_blocks_read_ahead_come_in_order_with_the_readers_error():
    def blocks():
        yield from range(5)
        raise table_checks.StructureError("ligne illisible")

    seen = []
    with pytest.raises(table_checks.StructureError, match="ligne illisible"):
        for block in table_checks._read_ahead(blocks()):
            seen.append(block)
    assert seen == [0, 1, 2, 3, 4]
    # A caller that stops early is not left waiting on the reader.
    reader = table_checks._read_ahead(iter(range(10**6)))
    assert [next(reader), next(reader)] == [0, 1]
    reader.close()


def test_large_integers_beside_missing_cells_keep_every_digit():
    import pyarrow as pa

    cells = ["123456789012345678", "", "123456789012345679", "99999999999999999999", "12"]
    column = table_checks.read_column({"name": "n", "type": "integer"}, pa.array(cells), [""])
    assert column.values.to_pylist() == [123456789012345678, None, 123456789012345679, None, 12]
    assert column.huge == {3: 99999999999999999999}
    schema = {"fields": [{"name": "n", "type": "integer", "constraints": {"unique": True}}]}
    assert table_checks.key_errors(schema, {"n": column}) == []  # two neighbours, not one rounded value twice


@pytest.mark.parametrize("in_order", [True, False], ids=["triees", "melangees"])
@pytest.mark.parametrize("composite", [False, True], ids=["simple", "composee"])
def test_duplicates_of_keys_in_order_are_those_the_grouping_finds(in_order, composite, monkeypatch):
    """Published tables come sorted by their key: their duplicates are found between neighbours, without hashing,
    and are the rows the grouping finds (the reference, kept for keys out of order)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(7)
    n = 5_000
    uids = np.sort(rng.integers(0, 3_000, n)).astype(str).astype(object)
    ranks = rng.integers(1, 3, n)
    if composite:  # (uid, rank): sorted as a pair, duplicates where both repeat
        order = np.lexsort((ranks, uids))
        uids, ranks = uids[order], ranks[order]
    else:
        uids = np.array(sorted(uids), dtype=object)
    if not in_order:
        shuffle = rng.permutation(n)
        uids, ranks = uids[shuffle], ranks[shuffle]
    keys = [pa.chunked_array([pa.array(list(uids[:2_000])), pa.array(list(uids[2_000:]))])]
    if composite:
        keys.append(pa.chunked_array([pa.array(ranks)]))
    skip = rng.random(n) < 0.05
    fast = table_checks._first_seen_duplicates(keys, skip)
    assert (sorted_keys.repeated_in_order([k.filter(pa.array(~skip)) for k in keys]) is not None) == in_order
    monkeypatch.setattr(table_checks, "repeated_in_order", lambda keys: None)
    grouped = table_checks._first_seen_duplicates(keys, skip)
    assert fast.sum() > 100 and not fast[skip].any()
    assert (fast == grouped).all()


def test_keys_with_nulls_or_floats_are_left_to_the_grouping():
    import pyarrow as pa

    assert sorted_keys.repeated_in_order([pa.chunked_array([pa.array(["a", None, "b"])])]) is None
    assert sorted_keys.repeated_in_order([pa.chunked_array([pa.array([0.0, -0.0, 1.0])])]) is None
    assert sorted_keys.repeated_in_order([pa.chunked_array([pa.array(["a", "a", "b"])])]).tolist() == [True, False]
    assert sorted_keys.repeated_in_order([pa.chunked_array([pa.array(["b", "a"])])]) is None


@pytest.mark.parametrize("missing_values", [[""], ["", "NA"], ["-"]])
def test_missing_cells_are_the_cells_equal_to_a_missing_value(missing_values):
    import pyarrow as pa

    raw = pa.array(["", "NA", "-", " ", "x", None, ""])
    column = table_checks.read_column({"name": "v", "type": "string"}, raw, missing_values)
    assert column.missing.tolist() == [value in missing_values for value in raw.to_pylist()]
