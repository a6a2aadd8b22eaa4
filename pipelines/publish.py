"""Write the publication (DESIGN §4) into a staging folder, validate it whole, then swap it in.

A failed run (an exception, an invalid table, a Frictionless error) leaves the previous publication untouched:
nothing is written in place, the staging folder is removed, and the swap is two renames on one filesystem.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import schemas
from .writers import sha256, write_csv, write_parquet

# Tables and their formats; CSV first (the reference format, what the Table Schema describes).
FORMATS: dict[str, tuple[str, ...]] = {
    "marches": ("csv", "parquet"),
    "titulaires": ("csv", "parquet"),
    "concessions": ("csv", "parquet"),
    "avis": ("csv", "parquet"),
    "indicateurs": ("csv",),
    "references": ("csv",),
    "rejets": ("csv",),
}
MEDIATYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
LICENCE = {
    "name": "etalab-2.0",
    "title": "Licence Ouverte / Open Licence version 2.0",
    "path": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
}
SOURCES = [
    {
        "title": "Données essentielles de la commande publique – fichiers consolidés (data.gouv.fr)",
        "path": "https://www.data.gouv.fr/fr/datasets/5cd57bf68b4c4179299eb0e9/",
    },
    {
        "title": "Format réglementaire des DECP (139bercy/format-commande-publique)",
        "path": "https://github.com/139bercy/format-commande-publique",
    },
]
TITLES = {
    "marches": "Marchés publics (DECP), une ligne par marché, dernière version, avec la décision « innovant »",
    "titulaires": "Titulaires des marchés (une ligne par marché et titulaire)",
    "concessions": "Contrats de concession (DECP), hors mesure des 2 % d'achats innovants",
    "avis": "Avis de marché (BOAMP, TED), une ligne par avis, avec la décision « innovant »",
    "indicateurs": "Indicateurs : part d'achats innovants par année, périmètre et ventilation, face aux cibles",
    "references": "Chiffres officiels publiés et chiffres de l'observatoire sur le périmètre le plus proche",
    "rejets": "Enregistrements et fichiers non utilisés, avec le motif",
}


class PublicationError(Exception):
    """The publication could not be produced; the previous one, if any, is intact."""


@dataclass(frozen=True)
class PublishedFile:
    table: str
    path: str
    format: str
    rows: int
    bytes: int
    sha256: str


def _check_target(out_dir: Path) -> None:
    """Refuse to replace a folder that is not a publication (a typo in --out must not wipe a home folder)."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise PublicationError(f"{out_dir} : existe et n'est pas un dossier")
    entries = {p.name for p in out_dir.iterdir()}
    if entries and "datapackage.json" not in entries and not entries <= {"README.md", ".gitkeep"}:
        raise PublicationError(
            f"{out_dir} : dossier non vide qui n'est pas une publication (pas de datapackage.json) ; "
            "choisissez un autre dossier --out"
        )


def _write_tables(tables: dict[str, pd.DataFrame], staging: Path) -> list[PublishedFile]:
    written = []
    for table, formats in FORMATS.items():
        frame = tables[table]
        for fmt in formats:
            relative = f"data/{table}.{fmt}"
            target = staging / relative
            (write_csv if fmt == "csv" else write_parquet)(frame, target, table)
            written.append(PublishedFile(table, relative, fmt, len(frame), target.stat().st_size, sha256(target)))
    schema_dir = staging / "schemas"
    schema_dir.mkdir()
    for table in FORMATS:
        shutil.copyfile(schemas.SCHEMAS_DIR / f"{table}.json", schema_dir / f"{table}.json")
    return written


def _model_card(staging: Path) -> dict:
    """Copy the classifier's model card (figures on the labelled set) into the publication; describe it."""
    from .classify.decision import method_version, model_path

    card_dir = model_path().parent
    described = {"version": method_version(), "cartes": []}
    for name in ("carte-modele.md", "carte-modele.json"):
        source = card_dir / name
        if source.is_file():
            target = staging / "methode" / name
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(source, target)
            described["cartes"].append({"path": f"methode/{name}", "hash": f"sha256:{sha256(target)}"})
    return described


def _datapackage(files: list[PublishedFile], inputs: list[dict], created: dt.datetime) -> dict:
    resources = []
    for item in files:
        if item.format == "csv":
            resources.append({
                "name": item.table,
                "title": TITLES[item.table],
                "path": item.path,
                "format": "csv",
                "mediatype": MEDIATYPES["csv"],
                "encoding": "utf-8",
                "schema": f"schemas/{item.table}.json",
                "hash": f"sha256:{item.sha256}",
                "bytes": item.bytes,
                "nb_lignes": item.rows,
                "autres_formats": [],
            })
        else:
            # Other formats of the same table are listed beside its CSV rather than as resources: Frictionless
            # cannot count their bytes and reads nullable integers back as floats, so it would fail them.
            resources[-1]["autres_formats"].append({
                "path": item.path,
                "format": item.format,
                "mediatype": MEDIATYPES[item.format],
                "hash": f"sha256:{item.sha256}",
                "bytes": item.bytes,
            })
    return {
        "name": "observatoire-achats-innovants",
        "title": "Observatoire des achats innovants : marchés publics et part d'achats innovants",
        "description": (
            "Marchés publics (DECP) avec, pour chacun, la décision « achat innovant » du pipeline, son score et "
            "les signaux qui la justifient ; indicateurs par année et périmètre face à la cible de 2 % ; "
            "enregistrements rejetés avec leur motif. Montants attribués (souvent des maximums d'accords-cadres), "
            "pas des paiements."
        ),
        "keywords": ["commande publique", "DECP", "achats innovants", "marchés publics", "innovation"],
        "licenses": [LICENCE],
        "sources": SOURCES,
        "created": created.isoformat(timespec="seconds"),
        "entrees": inputs,
        "resources": resources,
    }


def _validate(staging: Path) -> None:
    # Imported here: frictionless is slow to import and only the publisher and checks need it.
    from frictionless import validate

    report = validate(staging / "datapackage.json")
    if not report.valid:
        lines = [" ".join(str(x) for x in row) for row in report.flatten(["rowNumber", "fieldName", "type", "note"])]
        raise PublicationError("publication invalide (Frictionless) : " + " ; ".join(lines[:5]))


def _siblings(out_dir: Path, kind: str) -> list[Path]:
    return sorted(out_dir.parent.glob(f".{out_dir.name}.{kind}-*"), key=lambda p: p.stat().st_mtime)


def recover(out_dir: Path) -> None:
    """Undo what a run killed during the swap left: the previous publication set aside, stale staging folders."""
    if not out_dir.exists():
        previous = _siblings(out_dir, "ancienne") if out_dir.parent.is_dir() else []
        if previous:
            os.rename(previous[-1], out_dir)
    if out_dir.parent.is_dir():
        for stale in _siblings(out_dir, "en-cours") + _siblings(out_dir, "ancienne"):
            shutil.rmtree(stale, ignore_errors=True)


def _swap(staging: Path, out_dir: Path) -> None:
    """Two renames on one filesystem; between them, interrupted or not, the old folder is put back or found back
    by ``recover`` at the next run."""
    previous = out_dir.with_name(f".{out_dir.name}.ancienne-{uuid.uuid4().hex[:8]}")
    if out_dir.exists():
        readme = out_dir / "README.md"
        if readme.is_file() and not (staging / "README.md").exists():
            shutil.copyfile(readme, staging / "README.md")
        os.rename(out_dir, previous)
    try:
        os.rename(staging, out_dir)
    except BaseException:
        if previous.exists() and not out_dir.exists():
            os.rename(previous, out_dir)
        raise
    shutil.rmtree(previous, ignore_errors=True)


def publish(tables: dict[str, pd.DataFrame], out_dir: Path, inputs: list[dict],
            created: dt.datetime | None = None) -> list[PublishedFile]:
    """Write, validate and swap in the publication; raise PublicationError leaving ``out_dir`` as it was."""
    out_dir = Path(out_dir).resolve()
    try:
        recover(out_dir)
    except OSError as exc:
        raise PublicationError(f"{out_dir} : reprise d'une publication interrompue impossible ({exc})") from exc
    _check_target(out_dir)
    created = created or dt.datetime.now(dt.timezone.utc)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = out_dir.with_name(f".{out_dir.name}.en-cours-{uuid.uuid4().hex[:8]}")
        staging.mkdir()
    except OSError as exc:
        raise PublicationError(f"{out_dir} : impossible d'écrire la publication ({exc.strerror or exc})") from exc
    try:
        files = _write_tables(tables, staging)
        package = _datapackage(files, inputs, created)
        package["methode"] = _model_card(staging)
        (staging / "datapackage.json").write_text(json.dumps(package, ensure_ascii=False, indent=2) + "\n",
                                                  encoding="utf-8")
        _validate(staging)
        _swap(staging, out_dir)
    except OSError as exc:
        raise PublicationError(f"{out_dir} : écriture impossible ({exc.strerror or exc})") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return files
