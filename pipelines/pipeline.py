"""The pipeline's steps as plain functions: the CLI runs them in a row, Dagster assets wrap them one by one.

ingest → consolidate (normalised tables) → classify → indicators → quality gates → publish.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import settings
from .classify import classify
from .decp.consolidate import consolidate
from .decp.ingest import Ingested, ingest_files
from .indicators import compute_indicators
from .publish import PublicationError, PublishedFile, publish
from .tables import concessions_table, conform, marches_table, rejets_table, titulaires_table

CLASSIFICATION_COLUMNS = ("innovant", "innovation_score", "innovation_signaux")


@dataclass
class Normalized:
    marches: pd.DataFrame
    titulaires: pd.DataFrame
    concessions: pd.DataFrame
    rejets: pd.DataFrame
    fichiers: list[dict] = field(default_factory=list)


def ingest(paths: Iterable[str | Path], max_bytes: int | None = None, out_dir: Path | None = None) -> Ingested:
    """``out_dir``: the publication folder, never read back as input when it lies inside an input folder."""
    return ingest_files(paths, max_bytes or settings.max_file_bytes(), exclude=[out_dir] if out_dir else ())


def normalize(ingested: Ingested) -> Normalized:
    marches, marches_collisions = consolidate(ingested.marches, "date_notification", "montant_initial", "marché")
    concessions, concessions_collisions = consolidate(ingested.concessions, "date_signature", "valeur_globale",
                                                      "concession")
    return Normalized(
        marches=marches_table(marches),
        titulaires=titulaires_table(marches),
        concessions=concessions_table(concessions),
        rejets=rejets_table(ingested.rejets + marches_collisions + concessions_collisions),
        fichiers=ingested.fichiers,
    )


def classify_marches(marches: pd.DataFrame) -> pd.DataFrame:
    decided = classify(marches)
    out = marches.copy()
    for column in CLASSIFICATION_COLUMNS:
        out[column] = decided[column]
    return conform(out, "marches")


def indicators(marches: pd.DataFrame) -> pd.DataFrame:
    return conform(compute_indicators(marches), "indicateurs")


def quality_failures(marches: pd.DataFrame) -> list[str]:
    """Blocking business rules (Great Expectations suite on ``marches``), as human lines; empty when all pass."""
    from .quality import validate_marches

    report = validate_marches(marches)
    return [f"{f.get('expectation')} {f.get('column', '')} : {f.get('detail', '')}".strip() for f in report.failures]


def input_manifest(fichiers: list[dict]) -> list[dict]:
    return [
        {k: f.get(k) for k in ("fichier", "format_source", "lus", "marches", "concessions", "rejetes", "erreur")
         if f.get(k) is not None}
        for f in fichiers
    ]


def publish_tables(marches, titulaires, concessions, indicateurs, rejets, fichiers, out_dir: Path,
                   created: dt.datetime | None = None) -> list[PublishedFile]:
    tables = {"marches": marches, "titulaires": titulaires, "concessions": concessions,
              "indicateurs": indicateurs, "rejets": rejets}
    return publish(tables, out_dir, input_manifest(fichiers), created)


@dataclass(frozen=True)
class RunSummary:
    files: list[PublishedFile]
    marches: int
    innovants: int
    rejets: int
    fichiers: int


def run_from_files(paths: Iterable[str | Path], out_dir: Path, max_bytes: int | None = None) -> RunSummary:
    paths = list(paths)
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(f"{missing[0]} : fichier ou dossier introuvable")
    normalized = normalize(ingest(paths, max_bytes, Path(out_dir)))
    marches = classify_marches(normalized.marches)
    failures = quality_failures(marches)
    if failures:
        raise PublicationError("règles métier non respectées (Great Expectations) : " + " ; ".join(failures[:5]))
    files = publish_tables(marches, normalized.titulaires, normalized.concessions, indicators(marches),
                           normalized.rejets, normalized.fichiers, out_dir)
    return RunSummary(files, len(marches), int(marches["innovant"].sum()), len(normalized.rejets),
                      len(normalized.fichiers))
