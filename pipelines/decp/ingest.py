"""Read every input file into normalised rows, routing what cannot be used to rejets with its reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .readers import CONCESSION, FileRejected, read_records
from .records import RecordRejected, normalize_concession, normalize_marche, record_kind

SOURCE = "decp"


@dataclass
class Ingested:
    marches: list[dict] = field(default_factory=list)
    concessions: list[dict] = field(default_factory=list)
    rejets: list[dict] = field(default_factory=list)
    fichiers: list[dict] = field(default_factory=list)


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders walked recursively; sorted so runs are reproducible and later files win ties."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*")) if p.is_file() and not p.name.startswith("."))
        else:
            files.append(path)
    return list(dict.fromkeys(files))


def reject(fichier: str, motif: str, detail: str, position: int | None = None, identifiant: str | None = None,
           format_source: str | None = None) -> dict:
    return {
        "source": SOURCE,
        "fichier": fichier,
        "position": position,
        "identifiant": identifiant,
        "motif": motif,
        "detail": detail,
        "format_source": format_source,
    }


def ingest_files(paths: Iterable[str | Path], max_bytes: int, today: dt.date | None = None) -> Ingested:
    today = today or dt.date.today()
    result = Ingested()
    for rank, path in enumerate(expand_inputs(paths)):
        name = str(path)
        report = {"fichier": name, "format_source": None, "lus": 0, "marches": 0, "concessions": 0, "rejetes": 0}
        try:
            for raw in read_records(path, max_bytes):
                report["format_source"] = raw.format_source
                report["lus"] += 1
                textual = not raw.format_source.endswith("-json")
                try:
                    kind = record_kind(raw.kind, raw.data) if isinstance(raw.data, dict) else raw.kind
                    if kind == CONCESSION:
                        row = normalize_concession(raw.data, today, textual)
                        result.concessions.append(row)
                        report["concessions"] += 1
                    else:
                        row = normalize_marche(raw.data, today, textual)
                        result.marches.append(row)
                        report["marches"] += 1
                except RecordRejected as exc:
                    result.rejets.append(reject(name, exc.motif, exc.detail, raw.position, exc.identifiant,
                                                raw.format_source))
                    report["rejetes"] += 1
                    continue
                row.update(source_fichier=path.name, format_source=raw.format_source, _chemin=name,
                           _rang_fichier=rank, _position=raw.position)
        except FileRejected as exc:
            result.rejets.append(reject(name, exc.motif, exc.detail, format_source=report["format_source"]))
            report["erreur"] = exc.detail
        result.fichiers.append(report)
    return result
