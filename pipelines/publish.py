"""Write the publication (DESIGN §4) into a staging folder, validate it whole, then swap it in.

A failed run (an exception, an invalid table, a Frictionless error) leaves the previous publication untouched:
nothing is written in place, the staging folder is removed, and the swap is two renames on one filesystem.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import shutil
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd

from . import release, schemas, settings
from .cache import cache_dir
from .files import sha256_file, swap_in
from .memory import give_back
from .steps import Steps, no_steps
from .writers import to_arrow, write_csv, write_parquet

# Tables and their formats; CSV first (the reference format, what the Table Schema describes).
FORMATS: dict[str, tuple[str, ...]] = {
    "marches": ("csv", "parquet"),
    "titulaires": ("csv", "parquet"),
    "concessions": ("csv", "parquet"),
    "avis": ("csv", "parquet"),
    "indicateurs": ("csv",),
    "references": ("csv",),
    "rejets": ("csv",),
    "qualite": ("csv",),
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
    "qualite": "Qualité des données lues, par source et par fichier (lus, gardés, fusionnés, rejetés, contrôles)",
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


# Formats of a table written at a time, each in a thread: Arrow's CSV and Parquet writers and hashlib work outside
# the GIL, and the Parquet writer holds a single core (a national marches.parquet: 3-6 s beside its CSV).
WRITER_THREADS = 2


def _write_file(arrow, table: str, fmt: str, rows: int, staging: Path) -> PublishedFile:
    relative = f"data/{table}.{fmt}"
    target = staging / relative
    (write_csv if fmt == "csv" else write_parquet)(arrow, target, table)
    return PublishedFile(table, relative, fmt, rows, target.stat().st_size, sha256_file(target))


def _write_tables(tables: dict[str, pd.DataFrame], staging: Path) -> list[PublishedFile]:
    written = []
    with ThreadPoolExecutor(WRITER_THREADS, thread_name_prefix="ecriture") as pool:
        for table, formats in FORMATS.items():
            frame = tables[table]
            arrow = to_arrow(frame, table)  # one table's formats at a time: one Arrow copy of the tables held
            written += pool.map(partial(_write_file, arrow, table, rows=len(frame), staging=staging), formats)
            del arrow
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
            described["cartes"].append({"path": f"methode/{name}", "hash": f"sha256:{sha256_file(target)}"})
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


# Rows of every resource that Frictionless itself reads in each run, beside the vectorised checks of every row.
FRICTIONLESS_SAMPLE_ROWS = 2_000


def _frictionless_lines(report) -> list[str]:
    return [" ".join(str(x) for x in row) for row in report.flatten(["rowNumber", "fieldName", "type", "note"])]


def _validate(staging: Path, package: dict) -> None:
    """Every row of every table against its Table Schema (table_checks: Frictionless' rules, column by column),
    then Frictionless itself on the package's metadata and the first rows of each resource. Where the files'
    structure is beyond the vectorised checks (labels, cell counts), Frictionless validates the whole package."""
    # Imported here: frictionless is slow to import and only the publisher and checks need it.
    from frictionless import validate

    from . import table_checks

    try:
        errors = table_checks.check_package(staging, package, lambda relative: json.loads(
            (staging / relative).read_text(encoding="utf-8")), digests_cache=cache_dir())
    except table_checks.StructureError:
        report = validate(staging / "datapackage.json")
        if not report.valid:
            raise PublicationError("publication invalide (Frictionless) : "
                                   + " ; ".join(_frictionless_lines(report)[:5])) from None
        return
    if errors:
        raise PublicationError("publication invalide (Table Schema, règles de Frictionless sur chaque ligne) : "
                               + " ; ".join(e.line() for e in errors[:5]))
    _frictionless_sample(staging, package)


def _frictionless_sample(staging: Path, package: dict) -> None:
    """Frictionless on datapackage.json as published (metadata, schemas), then on the first rows of every resource.

    The sample's package leaves out what table_checks verified on every row and Frictionless could only do
    wrongly or slowly on a sample: the hash and byte count (of the sample only) and foreign keys (it would read the
    whole referenced table)."""
    from frictionless import Package

    metadata = Package.validate_descriptor(str(staging / "datapackage.json"))
    sample = copy.deepcopy(package)
    for resource in sample["resources"]:
        schema = json.loads((staging / resource["schema"]).read_text(encoding="utf-8"))
        schema.pop("foreignKeys", None)
        resource["schema"] = schema
        resource.pop("hash", None)
        resource.pop("bytes", None)
    report = metadata if not metadata.valid else Package.from_descriptor(sample, basepath=str(staging)).validate(
        limit_rows=FRICTIONLESS_SAMPLE_ROWS)
    if not report.valid:
        raise PublicationError("publication invalide (Frictionless, métadonnées et échantillon) : "
                               + " ; ".join(_frictionless_lines(report)[:5]))


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
            _carry_archive(stale, out_dir)
            shutil.rmtree(stale, ignore_errors=True)


def _carry_archive(previous: Path, out_dir: Path) -> None:
    """Dated snapshots outlive every publication: move them from the folder being replaced into the new one."""
    archive = previous / ARCHIVE
    if archive.is_dir() and out_dir.is_dir() and not (out_dir / ARCHIVE).exists():
        os.rename(archive, out_dir / ARCHIVE)


def _swap(staging: Path, out_dir: Path) -> None:
    """Two renames on one filesystem; between them, interrupted or not, the old folder is put back or found back
    by ``recover`` at the next run."""
    previous = out_dir.with_name(f".{out_dir.name}.ancienne-{uuid.uuid4().hex[:8]}")
    if out_dir.exists():
        readme = out_dir / "README.md"
        if readme.is_file() and not (staging / "README.md").exists():
            shutil.copyfile(readme, staging / "README.md")
    swap_in(staging, out_dir, previous)
    _carry_archive(previous, out_dir)
    shutil.rmtree(previous, ignore_errors=True)


def publish(tables: dict[str, pd.DataFrame], out_dir: Path, inputs: list[dict],
            created: dt.datetime | None = None, steps: Steps = no_steps,
            gate: Callable[[], None] | None = None) -> list[PublishedFile]:
    """Write, validate and swap in the publication; raise PublicationError leaving ``out_dir`` as it was.

    ``steps``: the run's step observer; the validation of the written files is its "validate" step.
    ``gate``: called once the files are written and valid, before the swap; raising stops the publication (the
    business rules, which may run beside the writing: pipeline._business_rules_gate).
    """
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
        extras = _write_extra_formats(tables, staging, created)
        package = _datapackage(files, inputs, created)
        package["methode"] = _model_card(staging)
        package["autres_fichiers"] = [{"path": f.path, "format": f.format, "hash": f"sha256:{f.sha256}",
                                       "bytes": f.bytes} for f in extras]
        (staging / "datapackage.json").write_text(json.dumps(package, ensure_ascii=False, indent=2) + "\n",
                                                  encoding="utf-8")
        with steps("validate"):
            _validate(staging, package)
            give_back()
            if gate is not None:
                gate()
        _write_report_and_catalog(tables, staging, files + extras, package, created)
        # Digests of the files written here, already checked against their bytes (table_checks) for the tables.
        release.write_sha256sums(staging, known={f.path: f.sha256 for f in files + extras})
        _swap(staging, out_dir)
    except OSError as exc:
        raise PublicationError(f"{out_dir} : écriture impossible ({exc.strerror or exc})") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    give_back()
    _archive(out_dir, created)
    _upload(out_dir, files + extras)
    return files + extras


def _upload(out_dir: Path, files: list[PublishedFile]) -> None:
    """Replace the files of the dataset's existing resources on data.gouv.fr (stable URLs), when configured."""
    targets = {f.path: out_dir / f.path for f in files}
    targets["index.html"] = out_dir / "index.html"
    try:
        release.upload_if_configured(targets)
    except (OSError, release.DataGouvError) as exc:
        raise PublicationError(f"{out_dir} : publication en place, mais envoi vers data.gouv.fr impossible ({exc})") \
            from exc


ARCHIVE = "archive"
XLSX = "data/achats-innovants.xlsx"
INDICATORS_JSON = "data/indicateurs.json"
# Sheets of the workbook: what journalists open; the supplier links, concessions and rejects stay in CSV/Parquet.
XLSX_TABLES = ("indicateurs", "references", "marches", "avis")
# openpyxl writes ~130,000 cells/s: a national table (1.5 M contracts) would take minutes and weigh hundreds of MB.
XLSX_MAX_ROWS = 100_000


def _write_extra_formats(tables: dict[str, pd.DataFrame], staging: Path, created: dt.datetime) -> list[PublishedFile]:
    readme = [
        ("Contenu", "Observatoire des achats innovants : indicateurs, chiffres officiels, marchés et avis."),
        ("Licence", LICENCE["title"] + " — " + LICENCE["path"]),
        ("Date de publication", created.date().isoformat()),
        ("Formats complets", "Les fichiers CSV et Parquet du dossier data/ contiennent toutes les tables, "
                             "y compris titulaires, concessions et rejets."),
        ("Montants", "Montants attribués (souvent des maximums d'accords-cadres), pas des paiements."),
    ]
    sheets = {name: tables[name] for name in XLSX_TABLES if len(tables[name]) <= XLSX_MAX_ROWS}
    for name in XLSX_TABLES:
        if name not in sheets:
            readme.append((f"Feuille {name} absente", f"{len(tables[name])} lignes : trop pour un tableur (écriture "
                                                      "lente, fichier lourd) ; utilisez le CSV ou le Parquet."))
    release.write_xlsx(sheets, staging / XLSX, readme, created=created)
    release.write_indicators_json(tables["indicateurs"], staging / INDICATORS_JSON,
                                  {"titre": TITLES["indicateurs"], "licence": LICENCE["path"],
                                   "date_publication": created.isoformat(timespec="seconds")})
    out = []
    for path, fmt, table, rows in ((XLSX, "xlsx", "classeur", None),
                                   (INDICATORS_JSON, "json", "indicateurs", len(tables["indicateurs"]))):
        target = staging / path
        out.append(PublishedFile(table, path, fmt, rows if rows is not None else sum(len(f) for f in sheets.values()),
                                 target.stat().st_size, sha256_file(target)))
    return out


def _write_report_and_catalog(tables: dict[str, pd.DataFrame], staging: Path, files: list[PublishedFile],
                              package: dict, created: dt.datetime) -> None:
    from .report import build_report

    card_path = staging / "methode" / "carte-modele.json"
    card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else None
    downloads = [{"path": f.path, "format": f.format, "table": f.table, "rows": f.rows, "bytes": f.bytes,
                  "sha256": f.sha256, "schema": f"schemas/{f.table}.json" if f.table in FORMATS else None,
                  "licence": LICENCE["title"]} for f in files]
    build_report(staging, tables, downloads, card, created)
    extra = [release.distribution(staging, path, title) for path, title in (
        (XLSX, "Classeur pour tableur (indicateurs, chiffres officiels, marchés, avis)"),
        (INDICATORS_JSON, "Indicateurs (JSON)"),
        ("index.html", "Rapport : où en sont les achats innovants de l'État"),
    )]
    years = sorted({int(y) for y in tables["indicateurs"]["annee"].dropna()}) if len(tables["indicateurs"]) else None
    release.write_dcat(staging, package, settings.public_url(), extra, years=years)


def _archive(out_dir: Path, created: dt.datetime) -> None:
    """Dated, immutable snapshot of the new publication, its release manifest and the human changelog.

    Done after the swap: the publication itself is already served; a failure here is reported without undoing
    it, and the next run snapshots again."""
    archive_root = out_dir / ARCHIVE
    try:
        previous = release.latest_snapshot(archive_root) if archive_root.is_dir() else None
        sums = release.read_sha256sums(out_dir)
        listed = [relative for _, relative in sums] + ["SHA256SUMS"]
        snapshot = release.archive_snapshot(out_dir, archive_root, created.date(), listed, previous=previous)
        entry = release.release_manifest(out_dir, previous, None, snapshot.name, created,
                                         digests={relative: digest for digest, relative in sums}, checked=True,
                                         cache=cache_dir())
        release.write_changelog(archive_root, entry)
    except (OSError, ValueError) as exc:
        raise PublicationError(f"{out_dir} : publication en place, mais archive datée impossible ({exc})") from exc
