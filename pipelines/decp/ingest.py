"""Read every input file into normalised rows, routing what cannot be used to rejets with its reason."""

from __future__ import annotations

import datetime as dt
import os
import pickle
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..notices.read import read_notices, sniff_notice
from . import regular, source_schema
from .readers import SNIFF_BYTES, CONCESSION, FileRejected, RawRecord, UnreadableRecord, read_records
from .records import RecordRejected, normalize_concession, normalize_marche, record_kind
from .whole_json import gc_paused

if TYPE_CHECKING:
    from .batch import Read

SOURCE = "decp"
# Records read at a time when regular contracts are read as columns (decp.regular): enough for each field's values
# to repeat, few enough that the records of a streamed file are not all held at once.
BLOCK_RECORDS = 20_000


@dataclass
class Ingested:
    """One file's records as row dicts (ingest_file; ingest_rows for several): the reading worker turns its
    contracts into columns (batch.Read) before they reach the pipeline."""
    marches: list[dict] = field(default_factory=list)
    blocks: list[regular.Block] = field(default_factory=list)  # contracts read as columns (ingest_file)
    concessions: list[dict] = field(default_factory=list)
    avis: list[dict] = field(default_factory=list)
    rejets: list[dict] = field(default_factory=list)
    fichiers: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class InputFile:
    path: Path
    name: str  # as published: relative to the folder given (absolute paths of the operator are not published)


def _printable(path: Path | str) -> str:
    """File names that are not UTF-8 are published with escapes rather than crashing the writers."""
    return os.fsdecode(path).encode("utf-8", "backslashreplace").decode("utf-8")


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _resolved(path: Path) -> Path:
    """The file a path leads to; a symlink loop is kept as the path itself (its reader then rejects it as
    fichier_illisible) instead of stopping the run."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def expand_inputs(paths: Iterable[str | Path], exclude: Iterable[Path] = ()) -> list[InputFile]:
    """Files as given, folders walked recursively (hidden files and folders, and ``exclude``, left out).

    Sorted so runs are reproducible and later files win ties.
    """
    excluded = [_resolved(Path(p)) for p in exclude]
    files: dict[Path, InputFile] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            # Published under the folder's own name, also when given as "x/.." or "." (never "../").
            base = Path(os.path.normpath(os.path.abspath(path))).name
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path)
                resolved = _resolved(child)
                if _hidden(relative) or any(resolved.is_relative_to(x) for x in excluded) or child.is_dir():
                    continue
                files.setdefault(resolved, InputFile(child, _printable(Path(base) / relative)))
        else:
            files.setdefault(_resolved(path), InputFile(path, _printable(path.name)))
    return list(files.values())


def reject(fichier: str, motif: str, detail: str, position: int | None = None, identifiant: str | None = None,
           format_source: str | None = None, source: str = SOURCE) -> dict:
    return {
        "source": source,
        "fichier": fichier,
        "position": position,
        "identifiant": identifiant,
        "motif": motif,
        "detail": detail,
        "format_source": format_source,
    }


def _kind(raw) -> str | None:
    return record_kind(raw.kind, raw.data) if isinstance(raw.data, dict) else raw.kind


def _normalize(raw, today: dt.date, kind: str | None = None) -> tuple[str, dict]:
    """``kind``: the record's, if known already (``_kind``)."""
    if isinstance(raw.data, UnreadableRecord):
        raise RecordRejected(raw.data.motif, raw.data.detail, raw.data.identifiant)
    textual = not raw.format_source.endswith("-json")
    if kind is None:
        kind = _kind(raw)
    if kind == CONCESSION:
        return CONCESSION, normalize_concession(raw.data, today, textual)
    return "marche", normalize_marche(raw.data, today, textual)


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(SNIFF_BYTES)
    except OSError:
        return b""  # the DECP reader reports the unreadable file


def _ingest_notices(item: InputFile, max_bytes: int, report: dict, result: Ingested) -> None:
    for notice in read_notices(item.path, max_bytes):
        report["format_source"] = notice.format_source
        report["lus"] += 1
        source = notice.format_source.split("-", 1)[0]
        if notice.rejet is not None:
            result.rejets.append(reject(item.name, notice.rejet.motif, notice.rejet.detail, notice.position,
                                        notice.rejet.identifiant, notice.format_source, source))
            report["rejetes"] += 1
            continue
        result.avis.append(dict(notice.row, source_fichier=_printable(item.path.name), _chemin=item.name))
        report["avis"] += 1


def _schema_check(raw, report: dict) -> tuple[source_schema.SchemaCheck | None, str | None]:
    """The official-schema codes of a JSON record, counted in the file's report (None: record not checked), and
    the record's kind (``_kind``: both the check and the normaliser need it)."""
    try:
        kind = _kind(raw)
        checked = source_schema.check(raw, kind)
    except Exception:
        report["schema_non_verifies"] += 1  # the record is then rejected as enregistrement_invalide
        raise
    if checked is None:
        report["schema_non_verifies"] += 1
        return None, kind
    report["schema_verifies"] += 1
    if checked.codes:
        report["schema_non_conformes"] += 1
        errors = report["schema_erreurs"]
        for code in checked.codes:
            errors[code] = errors.get(code, 0) + 1
    return checked, kind


def _ingest_decp(item: InputFile, rank: int, max_bytes: int, today: dt.date, report: dict,
                 result: Ingested, lane: regular.Lane | None) -> None:
    """Every record read is counted once: kept (marches, concessions) or rejected; JSON records are checked
    against the official schema of their format first (source_schema): benign codes go to the row's anomalies,
    a record the schema errors leave without date nor amount is rejected (``schema_invalide``)."""
    report.update(schema_verifies=0, schema_non_verifies=0, schema_non_conformes=0, schema_erreurs={})
    try:
        _ingest_decp_records(item, rank, max_bytes, today, report, result, lane)
    finally:
        report["schema_erreurs"] = dict(sorted(report["schema_erreurs"].items()))


def _ingest_decp_records(item: InputFile, rank: int, max_bytes: int, today: dt.date, report: dict,
                         result: Ingested, lane: regular.Lane | None) -> None:
    """``lane``: regular JSON contracts read as columns (decp.regular), blocks of BLOCK_RECORDS at a time; the other
    records one by one."""
    block: list[RawRecord] = []
    try:
        for raw in read_records(item.path, max_bytes):
            report["format_source"] = raw.format_source
            report["lus"] += 1
            if lane is None:
                _ingest_record(item, rank, today, report, result, raw)
                continue
            block.append(raw)
            if len(block) >= BLOCK_RECORDS:
                _ingest_block(item, rank, today, report, result, block, lane)
                block = []
    finally:
        # Also when the file turns out unreadable past some records: those read so far are kept, as one by one.
        if block:
            _ingest_block(item, rank, today, report, result, block, lane)


def _ingest_block(item: InputFile, rank: int, today: dt.date, report: dict, result: Ingested,
                  raws: list[RawRecord], lane: regular.Lane) -> None:
    found = lane.read(raws)
    taken = set(found.lines)
    for line, raw in enumerate(raws):
        if line not in taken:
            _ingest_record(item, rank, today, report, result, raw)
    if not found:
        return
    count = len(found)
    report["schema_verifies"] += count
    report["marches"] += count
    errors = report["schema_erreurs"]
    for codes in found.codes:
        if codes:
            report["schema_non_conformes"] += 1
            for code in codes:
                errors[code] = errors.get(code, 0) + 1
    found.rows["source_fichier"] = [_printable(item.path.name)] * count
    found.rows["_chemin"] = [item.name] * count
    found.rows["_rang_fichier"] = [rank] * count
    result.blocks.append(found)


def _ingest_record(item: InputFile, rank: int, today: dt.date, report: dict, result: Ingested,
                   raw: RawRecord) -> None:
    name = item.name
    checked = None
    try:
        checked, kind = _schema_check(raw, report)
        kind, row = _normalize(raw, today, kind)
    except RecordRejected as exc:
        result.rejets.append(reject(name, exc.motif, source_schema.with_codes(exc.detail, checked), raw.position,
                                    exc.identifiant, raw.format_source))
        report["rejetes"] += 1
        return
    except Exception as exc:  # noqa: BLE001 - one odd record must not stop the run
        result.rejets.append(reject(name, "enregistrement_invalide",
                                    f"enregistrement inexploitable ({type(exc).__name__} : {exc})"[:500],
                                    raw.position, None, raw.format_source))
        report["rejetes"] += 1
        return
    if checked is not None and checked.codes:
        blocking = source_schema.blocking_codes(checked, row)
        if blocking:
            result.rejets.append(reject(name, source_schema.SCHEMA_INVALIDE,
                                        source_schema.rejection_detail(checked, blocking), raw.position,
                                        row.get("id"), raw.format_source))
            report["rejetes"] += 1
            return
        for code in checked.codes:
            row["_anomalies"].add(source_schema.anomaly_code(code))
    row["source_fichier"] = _printable(item.path.name)
    row["format_source"] = raw.format_source
    row["_chemin"] = name
    row["_rang_fichier"] = rank
    row["_position"] = raw.position
    (result.concessions if kind == CONCESSION else result.marches).append(row)
    report["concessions" if kind == CONCESSION else "marches"] += 1


def ingest_file(item: InputFile, rank: int, max_bytes: int, today: dt.date, columns: bool = False) -> Ingested:
    """One file, DECP or notices (routed by its content), into its own Ingested (``fichiers``: its report).

    ``columns``: regular JSON contracts are read as columns (Ingested.regular) rather than as rows."""
    result = Ingested()
    report = {"fichier": item.name, "format_source": None, "lus": 0, "marches": 0, "concessions": 0, "avis": 0,
              "rejetes": 0}
    notice_format = sniff_notice(_head(item.path))
    try:
        if notice_format:
            _ingest_notices(item, max_bytes, report, result)
        else:
            _ingest_decp(item, rank, max_bytes, today, report, result,
                         regular.Lane(today) if columns and regular.ENABLED else None)
    except FileRejected as exc:
        result.rejets.append(reject(item.name, exc.motif, exc.detail, format_source=report["format_source"],
                                    source=(notice_format or SOURCE).split("-", 1)[0]))
        report["erreur"] = exc.detail
    except Exception as exc:  # noqa: BLE001 - a file the readers did not foresee is listed, not fatal
        detail = f"fichier illisible ({type(exc).__name__} : {exc})"[:500]
        result.rejets.append(reject(item.name, "fichier_illisible", detail, format_source=report["format_source"]))
        report["erreur"] = detail
    result.fichiers.append(report)
    return result


def ingest_rows(paths: Iterable[str | Path], max_bytes: int, today: dt.date | None = None,
                exclude: Iterable[Path] = ()) -> Ingested:
    """Every input read here, one file after the other, as row dicts (no cache, no worker, no columns): the records
    as the normalisers return them, for code that looks at them one by one (tests, notebooks)."""
    today = today or dt.date.today()
    result = Ingested()
    for rank, item in enumerate(expand_inputs(paths, exclude)):
        part = ingest_file(item, rank, max_bytes, today)
        for name in ("marches", "concessions", "avis", "rejets", "fichiers"):
            getattr(result, name).extend(getattr(part, name))
    return result


def ingest_files(paths: Iterable[str | Path], max_bytes: int, today: dt.date | None = None,
                 exclude: Iterable[Path] = (), cache_dir: Path | None = None, workers: int | None = None,
                 meanwhile: Callable[[], None] | None = None, history: bool = False) -> Read:
    """DECP files and notice files (BOAMP, TED), routed by their content, merged in input order; each file's
    contracts turned into columns where it was read (batch).

    ``cache_dir``: per-file results kept there and reused while the file's bytes are the same (file_cache);
    ``workers``: processes reading files side by side, 0 to read them in this process (default: parallel_reads
    decides from the work's size); ``meanwhile``: called here while worker processes read (file_cache);
    ``history``: with a cache, the files of the state kept there (decp.history) are not read: the result's
    ``history`` holds their records, ``marches`` only the other files' (the caller consolidates with
    history.splice), and ``seed`` what the next state is made of."""
    from . import history as states
    from .batch import Read, concat
    from .file_cache import read_files

    today = today or dt.date.today()
    items = list(expand_inputs(paths, exclude))
    result, batches = Read(), []
    seed, keep = states.Seed([], {}), history and cache_dir is not None

    def known(keys: list[str | None]) -> set[int]:
        if keep:
            result.history = states.load(cache_dir, items, keys, today)
        if result.history is None:
            return set()
        seed.marks.extend(result.history.seed.marks)
        seed.rests.update(result.history.seed.rests)
        return {mark.rank for mark in seed.marks}

    with gc_paused():  # notice, concession and reject rows unpickled here by the hundred thousand, in no cycle
        parts = {part.rank: part for part in read_files(items, max_bytes, today, cache_dir, workers, meanwhile,
                                                        known)}
        contracts_elsewhere = False
        for rank in range(len(items)):
            if rank in parts:
                part = parts.pop(rank)
                batches.append(part.read.marches)
                rest = (part.read.concessions, part.read.avis, part.read.rejets, part.read.fichiers)
                if part.key is not None and keep:
                    seed.marks.append(states.Mark(rank, items[rank].name, part.key, part.dates))
                    # As read: the normalisation completes these rows in place.
                    seed.rests[rank] = pickle.dumps(rest, protocol=pickle.HIGHEST_PROTOCOL)
                else:
                    contracts_elsewhere |= len(part.read.marches) > 0
            else:
                rest = pickle.loads(seed.rests[rank])
            concessions, avis, rejets, fichiers = rest
            result.concessions += concessions
            result.avis += avis
            result.rejets += rejets
            result.fichiers += fichiers
    result.marches = concat(batches)
    # A state holds the records of cached files only: those of a file read on every run would be counted twice.
    result.seed = seed if keep and not contracts_elsewhere else None
    return result
