"""Every row of the published CSVs checked against its Table Schema, column by column, with the errors Frictionless
would report (same row, same field, same error type).

Frictionless v5 checks row by row, about 25,000 rows/s here (40 s for a national million): too slow for every run.
The same rules are derived from the same ``schemas/*.json`` and applied to whole columns with pyarrow: missing
values, types (integer, number, date, boolean as Frictionless reads them), ``required``, ``enum``, ``pattern``,
``minimum``/``maximum``, ``unique``, the primary key, foreign keys to another resource, and the file's byte count
and sha256 against ``datapackage.json``. Values in the shapes the writers produce take the vectorised path; any
other value is judged by a Python reader that is Frictionless' own rule (``int(cell.strip())``,
``Decimal(cell.strip())``, ``strptime(cell, "%Y-%m-%d")``, ``re.match("^" + pattern + "$")``), once per distinct
value. A structural problem (labels, a row with too many or too few cells, undecodable bytes) is beyond these
checks: the caller then hands the package to Frictionless itself (``StructureError``). tests/test_table_checks.py
proves the equivalence on the real samples' publication and on deliberately corrupted tables.
"""

from __future__ import annotations

import datetime as dt
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from . import row_digests
from .files import file_size, sha256_file
from .sorted_keys import repeated_in_order

# Frictionless' defaults (frictionless.settings) where a schema says nothing.
DEFAULT_MISSING = [""]
DEFAULT_TRUE = ["true", "True", "TRUE", "1"]
DEFAULT_FALSE = ["false", "False", "FALSE", "0"]
_TYPE_ERROR = object()

# The shapes the writers produce, judged without Python; everything else goes through the Python reader.
_PLAIN_INTEGER = r"^[+-]?[0-9]{1,18}$"
_PLAIN_NUMBER = r"^[+-]?[0-9]{1,15}(\.[0-9]{1,17})?$"
_PLAIN_DATE = r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}$"


class StructureError(Exception):
    """The file's structure (labels, cells per row, encoding) is not what the schema says: Frictionless decides."""


@dataclass(frozen=True)
class TableError:
    row: int | None  # as Frictionless numbers rows: the header is row 1
    field_number: int | None
    field: str | None
    type: str  # Frictionless error type: type-error, constraint-error, primary-key, unique-error, foreign-key…
    note: str
    cell: str | None = None
    table: str | None = None

    def line(self) -> str:
        where = (f"{self.table} " if self.table else "") + (f"ligne {self.row}" if self.row is not None else "fichier")
        field = f", champ {self.field}" if self.field else ""
        value = f" (valeur {self.cell[:60]!r})" if self.cell else ""
        return f"{where}{field}{value}: {self.type}: {self.note}"


# --- Frictionless' readers, one cell at a time (the reference; used for the values off the fast path) ----------


def _read_integer(cell: str):
    try:
        return int(cell.strip())
    except Exception:  # noqa: BLE001 - exactly Frictionless' rule: anything int() refuses is a type error
        return _TYPE_ERROR


def _read_number(cell: str):
    try:
        return Decimal(cell.strip())
    except Exception:  # noqa: BLE001
        return _TYPE_ERROR


def _read_date(cell: str):
    try:
        return dt.datetime.strptime(cell, "%Y-%m-%d").date()
    except Exception:  # noqa: BLE001
        return _TYPE_ERROR


def _boolean_reader(field: dict) -> Callable[[str], object]:
    mapping = {v: True for v in field.get("trueValues", DEFAULT_TRUE)}
    mapping.update({v: False for v in field.get("falseValues", DEFAULT_FALSE)})
    return lambda cell: mapping.get(cell, _TYPE_ERROR)


def python_reader(field: dict) -> Callable[[str], object]:
    kind = field.get("type", "string")
    if kind == "integer":
        return _read_integer
    if kind == "number":
        return _read_number
    if kind == "date":
        if field.get("format", "default") != "default":
            raise StructureError(f"format de date {field.get('format')!r} non pris en charge")
        return _read_date
    if kind == "boolean":
        return _boolean_reader(field)
    if kind == "string":
        return lambda cell: cell
    raise StructureError(f"type {kind!r} non pris en charge")


# --- columns ----------------------------------------------------------------------------------------------------


@dataclass
class Column:
    """One field read: ``missing`` (null cell), ``bad`` (type error), ``values`` (typed, null where missing or bad)."""

    missing: np.ndarray
    bad: np.ndarray
    values: pa.Array
    raw: pa.Array | None  # the cells' text; None in the key columns kept once their cells are checked
    huge: dict[int, int]  # integers beyond 64 bits (null in ``values``), by row: Python compares them


def _by_distinct(raw: pa.Array, rows: np.ndarray, read: Callable[[str], object]) -> np.ndarray:
    """``read`` of each cell ``raw[rows]``, in the order of ``rows`` (an array of objects): applied once per distinct
    value, then spread by the values' dictionary codes (a vocabulary with accents sends every row of its column to
    the Python pattern)."""
    out = np.empty(len(rows), dtype=object)
    if not len(rows):
        return out
    encoded = pc.dictionary_encode(raw.take(pa.array(rows)))
    judged = np.empty(len(encoded.dictionary), dtype=object)
    for at, value in enumerate(encoded.dictionary.to_pylist()):
        judged[at] = read(value)  # one by one: numpy would unpack a result that is a sequence
    out[:] = judged[encoded.indices.to_numpy(zero_copy_only=False)]
    return out


def _typed(field: dict, raw: pa.Array, missing: np.ndarray) -> tuple[np.ndarray, pa.Array, dict[int, int]]:
    """(type-error mask, typed values, integers beyond 64 bits) of one column."""
    kind = field.get("type", "string")
    n = len(raw)
    bad = np.zeros(n, dtype=bool)
    huge: dict[int, int] = {}
    if kind == "string":
        return bad, _text_values(raw, missing), huge
    if kind == "boolean":
        read = _boolean_reader(field)
        true_values = pa.array(field.get("trueValues", DEFAULT_TRUE))
        false_values = pa.array(field.get("falseValues", DEFAULT_FALSE))
        is_true = pc.is_in(raw, value_set=true_values).to_numpy(zero_copy_only=False)
        is_false = pc.is_in(raw, value_set=false_values).to_numpy(zero_copy_only=False)
        bad = ~missing & ~is_true & ~is_false
        if set(true_values.to_pylist()) & set(false_values.to_pylist()):
            is_true = np.array([read(v) is True for v in raw.to_pylist()])
        return bad, pa.array(np.where(is_true, True, False), mask=missing | bad), huge
    plain_pattern = {"integer": _PLAIN_INTEGER, "number": _PLAIN_NUMBER, "date": _PLAIN_DATE}[kind]
    plain = pc.match_substring_regex(raw, plain_pattern).to_numpy(zero_copy_only=False) & ~missing
    if kind == "integer":
        # Nulls filled before leaving Arrow: with them, to_numpy goes through float64 and rounds 18-digit integers.
        values = pc.fill_null(pc.cast(pc.if_else(pa.array(plain), raw, pa.scalar(None, pa.string())), pa.int64()),
                              0).to_numpy(zero_copy_only=False)
        target = pa.int64()
    elif kind == "number":
        values = pc.cast(pc.if_else(pa.array(plain), raw, pa.scalar(None, pa.string())), pa.float64()).to_numpy(
            zero_copy_only=False)
        target = pa.float64()
    else:
        values, real = _plain_dates(raw, plain)
        plain &= real  # 2024-02-30 and the like: the Python reader says why
        target = pa.date32()
    values = np.asarray(values).copy()
    others = np.flatnonzero(~plain & ~missing)
    read = python_reader(field)
    for row, value in zip(others.tolist(), _by_distinct(raw, others, read)):
        if value is _TYPE_ERROR:
            bad[row] = True
            continue
        if kind == "integer":
            if not -(2**63) <= value < 2**63:
                huge[row] = value
                value = 0
            values[row] = value
        elif kind == "number":
            values[row] = float(value)
        else:
            values[row] = (value - dt.date(1970, 1, 1)).days
    null = missing | bad
    null[list(huge)] = True
    if kind == "date":
        array = pa.array(np.where(null, 0, values).astype(np.int32), mask=null).cast(pa.date32())
    else:
        array = pa.array(np.where(null, 0, values).astype(target.to_pandas_dtype()), mask=null, type=target)
    return bad, array, huge


def _plain_dates(raw: pa.Array, plain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(days since 1970-01-01, is a real date) of the cells of the plain shape, YYYY-MM-DD: their ten ASCII bytes
    read as digits with numpy, the month's length from numpy's (proleptic Gregorian, as Python's) calendar. A
    month 13 or a 30 February is not a real date. Measured on a national marches.csv: 0.8 s a date column with
    Arrow's strptime and strftime back, a tenth of that here."""
    days = np.zeros(len(raw), dtype=np.int64)
    real = np.zeros(len(raw), dtype=bool)
    rows = np.flatnonzero(plain)
    if not len(rows):
        return days, real
    _, offsets, data = raw.buffers()
    wide = pa.types.is_large_string(raw.type)
    starts = np.frombuffer(offsets, dtype=np.int64 if wide else np.int32)[raw.offset + rows].astype(np.int64)
    text = np.frombuffer(data, dtype=np.uint8)

    def number(*at: int) -> np.ndarray:
        out = np.zeros(len(rows), dtype=np.int64)
        for k in at:
            out = out * 10 + text[starts + k] - 48
        return out

    year, month, day = number(0, 1, 2, 3), number(5, 6), number(8, 9)
    known_month = (month >= 1) & (month <= 12)
    first = (np.where(known_month, (year - 1970) * 12 + month - 1, 0)).astype("datetime64[M]")
    first_day = first.astype("datetime64[D]")
    length = ((first + 1).astype("datetime64[D]") - first_day).astype(np.int64)
    ok = known_month & (day >= 1) & (day <= length)
    days[rows] = np.where(ok, first_day.astype(np.int64) + day - 1, 0)
    real[rows] = ok
    return days, real


def _text_values(raw: pa.Array, missing: np.ndarray) -> pa.Array:
    """The text, null where missing: the same buffers with a validity bitmap (key columns are kept whole)."""
    if not missing.any():
        return raw
    if raw.offset or raw.null_count or raw.type != pa.string():
        return pc.if_else(pa.array(missing), pa.nulls(len(raw), pa.string()), raw)
    validity = pa.array(~missing).buffers()[1]
    return pa.Array.from_buffers(pa.string(), len(raw), [validity, *raw.buffers()[1:]])


def read_column(field: dict, raw: pa.Array, missing_values: list[str]) -> Column:
    if missing_values == [""]:  # the schemas' one missing value: an empty cell is one of length 0 (5x faster)
        missing = pc.fill_null(pc.equal(pc.binary_length(raw), 0), False).to_numpy(zero_copy_only=False)
    else:
        missing = pc.is_in(raw, value_set=pa.array(missing_values, pa.string())).to_numpy(zero_copy_only=False)
    bad, values, huge = _typed(field, raw, missing)
    return Column(missing=missing, bad=bad, values=values, raw=raw, huge=huge)


# --- constraints ------------------------------------------------------------------------------------------------


def _pattern_ok(pattern: str, raw: pa.Array, candidates: np.ndarray) -> np.ndarray:
    """``re.match("^" + pattern + "$")`` as Frictionless compiles it; RE2 for ASCII values without a final newline
    (where both engines agree), Python's re for the other distinct values."""
    expression = f"^{pattern}$"
    ok = np.ones(len(raw), dtype=bool)
    if not candidates.any():
        return ok
    ascii_plain = pc.and_(pc.string_is_ascii(raw), pc.invert(pc.ends_with(raw, "\n"))).to_numpy(
        zero_copy_only=False)
    fast = candidates & ascii_plain
    try:
        matched = pc.match_substring_regex(raw, expression).to_numpy(zero_copy_only=False)
        ok[fast] = matched[fast]
        slow = candidates & ~ascii_plain
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # RE2 refuses the pattern: Python for all
        slow = candidates
    rows = np.flatnonzero(slow)
    compiled = re.compile(expression)
    ok[rows] = _by_distinct(raw, rows, lambda cell: bool(compiled.match(cell))).astype(bool)
    return ok


def _bound_ok(field: dict, column: Column, name: str, present: np.ndarray) -> np.ndarray:
    """``minimum`` / ``maximum`` on the typed value; NaN fails both, as in Frictionless. Floats equal to the bound
    are compared again as Decimals (the number type is Decimal in Frictionless)."""
    kind = field.get("type", "string")
    bound = field["constraints"][name]
    read = python_reader(field)
    limit = read(str(bound)) if not isinstance(bound, (int, float)) or kind == "date" else bound
    if kind == "date":
        days = pc.cast(column.values, pa.int32()).to_numpy(zero_copy_only=False)
        limit_days = (limit - dt.date(1970, 1, 1)).days
        ok = days >= limit_days if name == "minimum" else days <= limit_days
        return ok | ~present
    values = column.values.to_numpy(zero_copy_only=False).astype(float)
    with np.errstate(invalid="ignore"):
        ok = values >= float(limit) if name == "minimum" else values <= float(limit)
    for row, value in column.huge.items():
        ok[row] = value >= limit if name == "minimum" else value <= limit
    if kind == "number":
        ties = np.flatnonzero(present & (values == float(limit)))
        raw = column.raw.take(pa.array(ties)).to_pylist() if len(ties) else []
        for row, cell in zip(ties.tolist(), raw):
            exact = Decimal(cell.strip())
            ok[row] = exact >= Decimal(str(limit)) if name == "minimum" else exact <= Decimal(str(limit))
    return ok | ~present


def _enum_ok(field: dict, column: Column, present: np.ndarray) -> np.ndarray:
    read = python_reader(field)
    allowed = [read(str(v)) if not isinstance(v, str) or field.get("type") != "string" else v
               for v in field["constraints"]["enum"]]
    allowed = [v for v in allowed if v is not _TYPE_ERROR]
    values = column.values
    if pa.types.is_floating(values.type):
        allowed = [float(v) for v in allowed]
    elif pa.types.is_date32(values.type):
        allowed = [(v - dt.date(1970, 1, 1)).days for v in allowed]
        values = values.cast(pa.int32())
    ok = pc.is_in(values, value_set=pa.array(allowed, type=values.type)).to_numpy(zero_copy_only=False)
    return ok | ~present


def cell_errors(fields: list[dict], columns: list[Column]) -> list[TableError]:
    """Type and constraint errors, in Frictionless' order within a row (field order; type error first and alone)."""
    return [error for number, (field, column) in enumerate(zip(fields, columns), start=1)
            for error in _field_errors(number, field, column)]


def _field_errors(number: int, field: dict, column: Column) -> list[TableError]:
    """The type and constraint errors of one field (``number``: its position in the schema, from 1)."""
    found = []
    name = field["name"]
    constraints = field.get("constraints", {})
    present = ~column.missing & ~column.bad
    checks: list[tuple[str, np.ndarray]] = []
    if constraints.get("required"):
        checks.append(("required", ~column.missing))
    if "pattern" in constraints and field.get("type", "string") == "string":
        checks.append(("pattern", _pattern_ok(constraints["pattern"], column.raw, present)))
    if "enum" in constraints:
        checks.append(("enum", _enum_ok(field, column, present)))
    for bound in ("minimum", "maximum"):
        if bound in constraints and field.get("type") in ("integer", "number", "date"):
            checks.append((bound, _bound_ok(field, column, bound, present)))
    for row in np.flatnonzero(column.bad).tolist():
        found.append(TableError(row + 2, number, name, "type-error",
                                f'type is "{field.get("type", "string")}/{field.get("format", "default")}"',
                                column.raw[row].as_py()))
    for constraint, ok in checks:
        for row in np.flatnonzero(~ok & ~column.bad).tolist():
            found.append(TableError(row + 2, number, name, "constraint-error",
                                    f'constraint "{constraint}" is "{constraints[constraint]}"',
                                    column.raw[row].as_py()))
    return found


def _first_seen_duplicates(keys: list[pa.Array], skip: np.ndarray) -> np.ndarray:
    """Rows whose key (tuple of typed values) appeared in an earlier row; ``skip`` rows neither count nor match."""
    n = len(keys[0]) if keys else 0
    if not n:
        return np.zeros(0, dtype=bool)
    table = pa.table({f"k{i}": k for i, k in enumerate(keys)}).append_column("row", pa.array(np.arange(n)))
    table = table.filter(pa.array(~skip))
    repeated = repeated_in_order(table.columns[:-1])
    if repeated is not None:  # keys in order (published tables are sorted by their key): no hashing
        duplicate = np.zeros(n, dtype=bool)
        duplicate[table.column("row").to_numpy()[1:][repeated]] = True
        return duplicate
    first = table.group_by([f"k{i}" for i in range(len(keys))], use_threads=False).aggregate([("row", "min")])
    duplicate = np.ones(n, dtype=bool)
    duplicate[skip] = False
    duplicate[first.column("row_min").to_numpy()] = False
    return duplicate


def key_errors(schema: dict, columns: dict[str, Column]) -> list[TableError]:
    """unique, primaryKey (duplicates after the first, and all-null keys)."""
    found = []
    n = len(next(iter(columns.values())).values) if columns else 0
    for number, field in enumerate(schema["fields"], start=1):
        if field.get("constraints", {}).get("unique"):
            column = columns[field["name"]]
            dup = _first_seen_duplicates([column.values], column.values.is_null().to_numpy(zero_copy_only=False))
            found += [TableError(r + 2, number, field["name"], "unique-error", "valeur déjà vue")
                      for r in np.flatnonzero(dup).tolist()]
    key = schema.get("primaryKey") or []
    key = [key] if isinstance(key, str) else list(key)
    if key and n:
        if any(columns[name].huge for name in key):
            raise StructureError("entier au-delà de 64 bits dans la clé primaire")
        values = [columns[name].values for name in key]
        all_null = np.logical_and.reduce([v.is_null().to_numpy(zero_copy_only=False) for v in values])
        found += [TableError(r + 2, None, None, "primary-key", 'cells composing the primary keys are all "None"')
                  for r in np.flatnonzero(all_null).tolist()]
        dup = _first_seen_duplicates(values, all_null)
        found += [TableError(r + 2, None, None, "primary-key", "clé primaire déjà vue")
                  for r in np.flatnonzero(dup).tolist()]
    return found


def foreign_key_errors(schema: dict, columns: dict[str, Column],
                       lookups: dict[tuple[str, tuple[str, ...]], pa.Array] | None) -> list[TableError]:
    """foreignKeys (``lookups``: the referenced resource's distinct values, keyed by (resource, fields))."""
    found = []
    for fk in schema.get("foreignKeys") or []:
        target = fk["fields"] if isinstance(fk["fields"], list) else [fk["fields"]]
        resource = (fk.get("reference") or {}).get("resource")
        source = _as_list((fk.get("reference") or {}).get("fields"))
        if lookups is None or (resource, tuple(source)) not in lookups or len(target) != 1:
            raise StructureError(f"clé étrangère non vérifiable ici : {fk}")
        values = columns[target[0]].values
        known = pc.is_in(values, value_set=lookups[(resource, tuple(source))]).to_numpy(zero_copy_only=False)
        present = values.is_valid().to_numpy(zero_copy_only=False)
        found += [TableError(r + 2, None, target[0], "foreign-key", f"absent de {resource}")
                  for r in np.flatnonzero(present & ~known).tolist()]
    return found


def _in_order(errors: list[TableError]) -> list[TableError]:
    """Frictionless' order: by row, then by field (row- and key-level errors first), as found otherwise."""
    return sorted(errors, key=lambda e: (e.row or 0, e.field_number or 0))


# --- files ------------------------------------------------------------------------------------------------------


# Rows of text read and checked at a time: a national marches.csv (half a gigabyte) is never held whole, as text
# and typed, beside the run's tables. Measured on the 1M benchmark's publication: the checks' own peak 1.25 GB
# with the whole files, 0.66 GB by 8 MB blocks, in the same 7 s; larger blocks or parsing threads (which read
# blocks ahead) hold more for no gain, the other core being busy with the business rules meanwhile.
BLOCK_BYTES = 8 << 20


def csv_string_blocks(path: Path, names: list[str]) -> Iterator[pa.Table]:
    """The data rows, block after block, every cell as text and nothing null, as Python's csv module (Frictionless'
    parser) reads a comma-separated file with a header row; any deviation from the expected labels or cell count is
    a StructureError (raised once the file is read: rows of the wrong length are noted as they are met)."""
    uneven: list[str] = []

    def invalid_row(row) -> str:
        # pyarrow swallows exceptions raised here: note the row, skip it, raise once the file is read.
        uneven.append(f"{row.actual_columns} cellules pour {row.expected_columns} : {row.text[:80]!r}")
        return "skip"

    header = None
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(autogenerate_column_names=True, use_threads=False, block_size=BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False,
                                             invalid_row_handler=invalid_row),
            convert_options=pacsv.ConvertOptions(column_types={f"f{i}": pa.string() for i in range(len(names))},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False,
                                                 null_values=[]),
        )
        if reader.schema.names != [f"f{i}" for i in range(len(names))]:
            raise StructureError(f"{path.name} : {len(reader.schema.names)} colonnes pour {len(names)} champs")
        for i, field in enumerate(reader.schema):
            if not pa.types.is_string(field.type) and not pa.types.is_large_string(field.type):
                raise StructureError(f"{path.name} : colonne {names[i]} non lue comme texte")
        for batch in reader:
            table = pa.Table.from_batches([batch])
            if header is None:
                if not table.num_rows:
                    continue
                header = [table.column(i)[0].as_py() for i in range(table.num_columns)]
                if header != names:
                    raise StructureError(f"{path.name} : en-tête {header[:5]}… différent du schéma")
                table = table.slice(1)
            yield table.rename_columns(names)
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as exc:
        raise StructureError(f"{path.name} : {exc}") from exc
    if uneven:
        raise StructureError(f"{path.name} : {len(uneven)} ligne(s) au nombre de cellules inattendu ; {uneven[0]}")
    if header is None:
        raise StructureError(f"{path.name} : fichier sans ligne d'en-tête")


def _read_ahead(blocks: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """``blocks``, the next one read by a thread while the caller checks this one (Arrow parses CSV outside the
    GIL): a national marches.csv spends a quarter of its checks reading. One block ahead at most."""
    ahead: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def read() -> None:
        try:
            for block in blocks:
                ahead.put(block)
                if stop.is_set():
                    return
            ahead.put(done)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            ahead.put(exc)

    reader = threading.Thread(target=read, name="lecture-csv", daemon=True)
    reader.start()
    try:
        while (item := ahead.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while reader.is_alive():  # a caller that stopped early: free the reader blocked on a full queue
            try:
                ahead.get(timeout=0.1)
            except queue.Empty:
                pass
        reader.join()


def _key_fields(schema: dict) -> set[str]:
    """The fields key_errors and foreign_key_errors read: unique ones, the primary key, the foreign keys' own fields."""
    keys = {f["name"] for f in schema["fields"] if f.get("constraints", {}).get("unique")}
    keys.update(_as_list(schema.get("primaryKey") or []))
    for fk in schema.get("foreignKeys") or []:
        keys.update(_as_list(fk.get("fields")))
    return keys


def check_table(path: Path, schema: dict, lookups: dict | None = None, keep: Iterable[str] = ()
                ) -> tuple[list[TableError], dict[str, Column]]:
    """Cell, row and key errors of one CSV; also its typed key columns and ``keep`` (for other tables' foreign keys)."""
    errors, columns = _cells_and_keys(path, schema, keep)
    return _in_order(errors + foreign_key_errors(schema, columns, lookups)), columns


def _cells_and_keys(path: Path, schema: dict, keep: Iterable[str] = (), hasher: row_digests.Hasher | None = None
                    ) -> tuple[list[TableError], dict[str, Column]]:
    """Cell, row, unique and primary-key errors of one CSV (foreign keys apart), with its typed key columns.

    Block of rows by block, field by field: each column read from the text is checked, then let go unless a key
    needs it (a national table would otherwise be held twice, as text and typed). ``hasher``: given each block's
    rows as they are read (the changelog's row digests)."""
    names = [f["name"] for f in schema["fields"]]
    missing_values = schema.get("missingValues", DEFAULT_MISSING)
    wanted = _key_fields(schema) | set(keep)
    found: list[TableError] = []
    parts: dict[str, list[Column]] = {name: [] for name in names if name in wanted}
    blanks: list[np.ndarray] = []
    offset = 0
    for table in _read_ahead(csv_string_blocks(path, names)):
        if hasher is not None:
            hasher.add(table, names)
        blank = np.ones(table.num_rows, dtype=bool)
        for number, field in enumerate(schema["fields"], start=1):
            column = read_column(field, pc.cast(table.column(field["name"]), pa.string()).combine_chunks(),
                                 missing_values)
            table = table.drop_columns([field["name"]])
            found += [replace(e, row=e.row + offset) for e in _field_errors(number, field, column)]
            blank &= column.missing
            if field["name"] in parts:
                parts[field["name"]].append(replace(column, raw=None))
        blanks.append(blank)
        offset += len(blank)
    blank = np.concatenate(blanks) if blanks else np.zeros(0, dtype=bool)
    if blank.any():  # a row of empty cells is reported as blank-row alone, as Frictionless does
        found = [e for e in found if e.row is None or not blank[e.row - 2]]
        found += [TableError(r + 2, None, None, "blank-row", "") for r in np.flatnonzero(blank).tolist()]
    columns = {name: _joined(blocks) for name, blocks in parts.items() if blocks}
    return _in_order(found + key_errors(schema, columns)), columns


def _joined(parts: list[Column]) -> Column:
    """One column from the columns of consecutive blocks of rows."""
    if len(parts) == 1:
        return parts[0]
    huge, offset = {}, 0
    for part in parts:
        huge.update((row + offset, value) for row, value in part.huge.items())
        offset += len(part.missing)
    return Column(missing=np.concatenate([p.missing for p in parts]), bad=np.concatenate([p.bad for p in parts]),
                  values=pa.concat_arrays([p.values for p in parts]), raw=None, huge=huge)


def _file_digest(path: Path) -> tuple[int, str]:
    return path.stat().st_size, sha256_file(path)


# Tables checked at a time, each in a thread: reading the CSV, casting, matching and hashing happen in Arrow and
# hashlib, outside the GIL, so a national marches.csv and its titulaires.csv are checked on both cores.
THREADS = 2


def check_package(folder: Path, package: dict, load_schema: Callable[[str], dict],
                  digests_cache: Path | None = None) -> list[TableError]:
    """Every CSV resource of a data package: byte count and sha256, then every row against its schema.

    ``load_schema(relative_path)`` returns a resource's Table Schema. The resources are checked side by side, the
    largest first; foreign keys once the resources they reference are read. Errors come in the order of the
    resources, those referenced by foreign keys first. Raises StructureError where only Frictionless can tell.
    ``digests_cache``: the digests of each file's rows are kept there, by the file's sha256 (row_digests), for the
    changelog that compares this publication with the next."""
    schemas = {r["name"]: load_schema(r["schema"]) for r in package["resources"]}
    resources = sorted(package["resources"], key=lambda r: bool(schemas[r["name"]].get("foreignKeys")))
    referenced = {((fk.get("reference") or {}).get("resource"), tuple(_as_list((fk.get("reference") or {}).get(
        "fields")))) for r in resources for fk in schemas[r["name"]].get("foreignKeys") or []}

    def check(resource: dict) -> tuple[list[TableError], list[TableError], dict[str, Column]]:
        """(errors of the file's bytes, of its rows, its key columns)."""
        path = folder / resource["path"]
        size, sha = _file_digest(path)
        in_file = []
        expected_hash = str(resource.get("hash", "")).removeprefix("sha256:")
        if expected_hash and expected_hash != sha:
            in_file.append(TableError(None, None, None, "hash-count", f"sha256 {sha}, {expected_hash} annoncé"))
        if resource.get("bytes") and resource["bytes"] != size:
            in_file.append(TableError(None, None, None, "byte-count", f"{size} octets, {resource['bytes']} annoncés"))
        schema = schemas[resource["name"]]
        names, primary_key = [f["name"] for f in schema["fields"]], _as_list(schema.get("primaryKey") or [])
        hasher = row_digests.Hasher(primary_key, row_digests.holds_separator(path)) \
            if digests_cache is not None else None
        in_rows, columns = _cells_and_keys(path, schema, [key[0] for name, key in referenced
                                                          if name == resource["name"]], hasher)
        if hasher is not None:
            row_digests.store(digests_cache, sha, names, primary_key, hasher.result())
        return in_file, in_rows, columns

    by_size = sorted(resources, key=lambda r: -file_size(folder / r["path"]))
    with ThreadPoolExecutor(THREADS, thread_name_prefix="controle-csv") as pool:
        done = dict(zip((r["name"] for r in by_size), pool.map(check, by_size)))
    lookups = {(name, key): pc.unique(done[name][2][key[0]].values.drop_null())
               for name, key in referenced if name in done and len(key) == 1 and key[0] in done[name][2]}
    found: list[TableError] = []
    for resource in resources:
        in_file, in_rows, columns = done[resource["name"]]
        in_rows = _in_order(in_rows + foreign_key_errors(schemas[resource["name"]], columns, lookups))
        found += [replace(e, table=resource["name"]) for e in in_file + in_rows]
    return found


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]
