"""Excel export of the published tables: one sheet per table, a "LISEZMOI" sheet first.

Why these choices:
- openpyxl write-only mode streams rows to temporary files, so a million-row table does not sit in memory as cells;
  rows are converted by chunks of ``CHUNK_ROWS`` for the same reason.
- Text is always text. A value such as ``=HYPERLINK(...)`` or ``+33 1 23`` coming from a buyer's free text must
  never become a formula (CSV/formula injection): such cells get the string type explicitly and Excel's
  "quote prefix" style, so that editing the cell does not turn it into a formula either.
- Excel stops at 1,048,576 rows: longer tables are cut and the LISEZMOI sheet says so (CSV/Parquet are complete).
- Same input, same bytes: document properties and ZIP entry dates come from ``created`` (not the clock), so two
  runs on the same data publish the same file and the same SHA256SUMS line.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

from ._values import NOT_SCALAR, plain_scalar

EXCEL_MAX_ROWS = 1_048_576  # rows per sheet, header included
EXCEL_MAX_TEXT = 32_767  # characters per cell; openpyxl cuts longer text silently, so we count and say it
README_SHEET = "LISEZMOI"
CHUNK_ROWS = 50_000
# First characters that make Excel, LibreOffice or Google Sheets read a typed-in value as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
# Without a ``created`` date the file still has fixed bytes: the ZIP epoch, obviously not a real date.
DEFAULT_CREATED = dt.datetime(1980, 1, 1)
AUTHOR = "Observatoire des achats innovants"
_FORBIDDEN_IN_SHEET_NAME = set('[]:*?/\\')


def _check_sheet_names(names: list[str], path: Path) -> None:
    seen = {README_SHEET.casefold()}
    for name in names:
        if not isinstance(name, str) or not 1 <= len(name) <= 31 or set(name) & _FORBIDDEN_IN_SHEET_NAME \
                or name.startswith("'") or name.endswith("'"):
            raise ValueError(f"{path} : nom de feuille Excel invalide {name!r} (1 à 31 caractères, sans []:*?/\\)")
        if name.casefold() == README_SHEET.casefold():
            raise ValueError(f"{path} : nom de feuille {name!r} réservé à la feuille « {README_SHEET} »")
        if name.casefold() in seen:
            # Excel compares sheet names without case.
            raise ValueError(f"{path} : nom de feuille Excel en double {name!r} (majuscules et minuscules confondues)")
        seen.add(name.casefold())


def _naive_utc(value: dt.datetime) -> dt.datetime:
    # Excel has no time zones: store UTC wall time.
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def _temporal(value) -> dt.date | dt.datetime:
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        value = _naive_utc(value)
        # Table Schema "date" columns arrive as midnight timestamps: show a date, not "2025-03-01 00:00:00".
        return value.date() if value.time() == dt.time(0) else value
    return value


def _python_value(value):
    """A plain Python value openpyxl writes with the right type (None for every kind of missing)."""
    scalar = plain_scalar(value)
    if scalar is not NOT_SCALAR:
        return scalar
    if isinstance(value, (dt.date, pd.Timestamp)):
        return _temporal(value)
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else _temporal(pd.Timestamp(value))
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class _Stats:
    """What had to be altered while writing one table, for the LISEZMOI sheet."""

    def __init__(self) -> None:
        self.cut_text = 0
        self.control_chars = 0


def _text_cell(ws, text: str, stats: _Stats):
    if ILLEGAL_CHARACTERS_RE.search(text):
        # XML 1.0 cannot carry these control characters; openpyxl would refuse the whole file.
        text = ILLEGAL_CHARACTERS_RE.sub("", text)
        stats.control_chars += 1
    if len(text) > EXCEL_MAX_TEXT:
        text = text[:EXCEL_MAX_TEXT]
        stats.cut_text += 1
    if not text.startswith(FORMULA_PREFIXES):
        return text  # openpyxl types a plain str as a string cell already
    cell = WriteOnlyCell(ws, value=text)
    # Assigning the value made "=..." a formula; force the string type back, and the quote prefix so that
    # Excel keeps it text even after the user edits the cell.
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell


def _rows(ws, frame: pd.DataFrame, stats: _Stats):
    for start in range(0, len(frame), CHUNK_ROWS):
        chunk = frame.iloc[start:start + CHUNK_ROWS]
        # Column-wise conversion, then zip: one Python object per cell only for the current chunk.
        columns = [[_python_value(v) for v in chunk.iloc[:, i].tolist()] for i in range(chunk.shape[1])]
        for row in zip(*columns):
            yield [_text_cell(ws, v, stats) if isinstance(v, str) else v for v in row]


def _header(ws, names) -> list:
    cells = []
    for name in names:
        cell = WriteOnlyCell(ws, value=str(name))
        cell.data_type = "s"
        cell.font = Font(bold=True)
        cells.append(cell)
    return cells


def _declare_dimension(ws, rows: int, columns: int) -> None:
    """Announce the sheet's used range (``<dimension ref="A1:AL88">``) before its first row is written.

    Write-only sheets have none, and then readers in streaming mode (openpyxl read-only, pandas) see no size and
    get rows without their trailing empty cells. The writer asks the sheet for ``calculate_dimension`` when it
    writes the sheet header, at the first append; we know the size in advance, so we provide it."""
    if rows and columns:
        ref = f"A1:{get_column_letter(columns)}{rows}"
        ws.calculate_dimension = lambda: ref


def _french_int(n: int) -> str:
    return f"{n:,}".replace(",", " ")


class _StableZip(zipfile.ZipFile):
    """A ZipFile whose entries all carry one fixed date, so that the same workbook gives the same bytes.

    openpyxl adds entries with ``writestr(name, data)`` (dated "now") and ``write(tempfile, name)`` (dated by the
    temporary file's mtime); both are redirected here to a ZipInfo with the fixed date."""

    def __init__(self, file, date_time: tuple[int, int, int, int, int, int]):
        super().__init__(file, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        self._date_time = date_time

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self._date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        return info

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):
        if not isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            zinfo_or_arcname = self._info(zinfo_or_arcname)
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        info = self._info(arcname or os.path.basename(filename))
        info.file_size = os.path.getsize(filename)  # lets ZipFile switch to ZIP64 for sheets over 2 GB
        with open(filename, "rb") as source, self.open(info, "w") as target:
            shutil.copyfileobj(source, target, 1 << 20)


def write_xlsx(tables: dict[str, pd.DataFrame], path: Path, readme_rows: list[tuple[str, str]],
               created: dt.datetime | None = None, max_rows: int = EXCEL_MAX_ROWS) -> None:
    """Write ``tables`` to ``path`` (.xlsx): sheet "LISEZMOI" first (``readme_rows``, then one line per sheet and
    the notes on what Excel could not hold), then one sheet per table, named after it, header in bold.

    ``created``: the publication date, written as the document's creation and modification date and used as ZIP
    entry date (same input and ``created`` → same bytes). ``max_rows``: rows per sheet, header included (Excel's
    limit by default; smaller in tests). The file appears atomically (temporary file + rename)."""
    path = Path(path)
    if max_rows < 2:
        raise ValueError(f"{path} : max_rows doit laisser au moins une ligne de données (reçu {max_rows})")
    _check_sheet_names(list(tables), path)
    stamp = _naive_utc(created) if created is not None else DEFAULT_CREATED
    if stamp.year < 1980:
        raise ValueError(f"{path} : date de création {stamp.isoformat()} antérieure à 1980, impossible dans un ZIP")

    workbook = Workbook(write_only=True)
    workbook.properties.creator = AUTHOR
    workbook.properties.lastModifiedBy = AUTHOR
    workbook.properties.created = stamp
    workbook.properties.modified = stamp
    workbook.properties.language = "fr-FR"

    # Created first so it is the first tab; filled last, once we know what had to be cut.
    readme = workbook.create_sheet(README_SHEET)
    readme.column_dimensions["A"].width = 34
    readme.column_dimensions["B"].width = 110
    readme_stats = _Stats()
    notes: list[tuple[str, str]] = []
    limit = max_rows - 1
    for name, frame in tables.items():
        ws = workbook.create_sheet(name)
        ws.freeze_panes = "A2"  # keep the column names visible while scrolling
        kept = frame.iloc[:limit]
        _declare_dimension(ws, len(kept) + 1, frame.shape[1])
        ws.append(_header(ws, frame.columns))
        stats = _Stats()
        for row in _rows(ws, kept, stats):
            ws.append(row)
        notes.append((f"Feuille « {name} »", f"{_french_int(len(kept))} ligne{'s' if len(kept) != 1 else ''}, "
                                             f"{frame.shape[1]} colonne{'s' if frame.shape[1] != 1 else ''}"))
        if len(frame) > limit:
            notes.append((
                f"Feuille « {name} » tronquée",
                f"La feuille « {name} » est tronquée : {_french_int(limit)} premières lignes sur "
                f"{_french_int(len(frame))} (limite d'Excel). Les fichiers CSV et Parquet publiés sont complets.",
            ))
        if stats.cut_text:
            notes.append((
                f"Feuille « {name} » : textes coupés",
                f"{_french_int(stats.cut_text)} cellule(s) dépassaient {_french_int(EXCEL_MAX_TEXT)} caractères "
                "(limite d'Excel) et ont été coupées. Les fichiers CSV et Parquet publiés sont complets.",
            ))
        if stats.control_chars:
            notes.append((
                f"Feuille « {name} » : caractères retirés",
                f"{_french_int(stats.control_chars)} cellule(s) contenaient des caractères de contrôle, retirés "
                "(interdits dans un fichier Excel). Les fichiers CSV et Parquet publiés sont inchangés.",
            ))
    readme_lines = [*readme_rows, ("", ""), *notes]
    _declare_dimension(readme, len(readme_lines), 2)
    for key, value in readme_lines:
        readme.append([_text_cell(readme, str(key), readme_stats) if key else None,
                       _text_cell(readme, str(value), readme_stats) if value else None])

    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        # ExcelWriter rather than Workbook.save: save() stamps properties.modified with the current time.
        archive = _StableZip(temp, stamp.timetuple()[:6])
        try:
            ExcelWriter(workbook, archive).save()
        finally:
            archive.close()
        os.replace(temp, path)
    except OSError as exc:
        raise OSError(f"{path} : écriture du classeur Excel impossible ({exc.strerror or exc})") from exc
    finally:
        if temp.exists():
            temp.unlink()
