"""The pipeline's steps as plain functions: the CLI runs them in a row, Dagster assets wrap them one by one.

ingest → consolidate (normalised tables) → classify → indicators → quality gates → publish.
"""

from __future__ import annotations

import datetime as dt
import gc
import importlib
import multiprocessing as mp
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import settings
from .background import Background
from .cache import cache_dir
from .classify import classify, text_model
from .classify.decision import prescore
from .decp.batch import Read
from .decp import history
from .decp.consolidate import Consolidation, consolidate, consolidate_batch
from .decp.ingest import ingest_files
from .decp.whole_json import gc_paused
from .enrichment import enrich_marches, enrich_titulaires
from .indicators import compute_indicators
from .memory import give_back
from .official_figures import compare as compare_official
from .quality_report import quality_table
from .notices.dedup import deduplicate
from .publish import PublicationError, PublishedFile, publish
from .raw_inputs import raw_files
from .schemas import TABLES
from .steps import Steps, no_steps
from .tables import avis_table, concessions_table, conform, marches_table, rejets_table, titulaires_table

CLASSIFICATION_COLUMNS = ("innovant", "innovation_score", "innovation_signaux")
SOURCES = ("decp", "boamp", "ted")


@dataclass
class Normalized:
    marches: pd.DataFrame
    titulaires: pd.DataFrame
    concessions: pd.DataFrame
    avis: pd.DataFrame
    rejets: pd.DataFrame
    qualite: pd.DataFrame
    fichiers: list[dict] = field(default_factory=list)
    # The contracts' consolidation, what the next history state is made of (decp.history; None: no state kept)
    # and, after a splice, the decisions known for the rows of marches (missing where the row is new or changed).
    consolidation: Consolidation | None = None
    seed: history.Seed | None = None
    decisions: pd.DataFrame | None = None


def ingest(paths: Iterable[str | Path], max_bytes: int | None = None, out_dir: Path | None = None,
           meanwhile: Callable[[], None] | None = None, reuse_history: bool = False) -> Read:
    """``out_dir``: the publication folder, never read back as input when it lies inside an input folder. Files
    already read with the same bytes come from the reading cache (cache.cache_dir, decp.file_cache); ``meanwhile``
    runs here while other processes read the others; ``reuse_history``: the files of the history state in the
    cache are not read again (decp.history; ``normalize`` splices the others' contracts into it)."""
    return ingest_files(paths, max_bytes or settings.max_file_bytes(), exclude=[out_dir] if out_dir else (),
                        cache_dir=cache_dir(), meanwhile=meanwhile, history=reuse_history)


class NoInputError(Exception):
    """Nothing to read: publishing would replace the publication with empty tables."""


def default_inputs(raw_root: Path) -> list[str]:
    """The committed raw snapshots of every source. Never the fictitious sample: a misconfigured raw store must
    fail, not publish demo data (the offline demo names the sample explicitly)."""
    files = [str(p) for source in SOURCES for p in raw_files(raw_root, source)]
    if not files:
        raise NoInputError(f"{raw_root} : aucun snapshot brut complet (collectez d'abord, ou indiquez des fichiers "
                           "avec ACHATS_INPUT_PATHS)")
    return files


def normalize(read: Read) -> Normalized:
    with gc_paused():  # notice and concession rows, the repeated contracts' versions: no reference cycle to find
        return _normalize(read)


def _normalize(read: Read) -> Normalized:
    keys = ("date_notification", "montant_initial", "marché")
    decisions = None
    if read.history is not None:
        consolidation, decisions = history.splice(read.history, read.marches, *keys)
        read.history = None  # its files' pages, mapped in memory, go back now: the spliced rows are copies
    else:
        consolidation = consolidate_batch(read.marches, *keys)
    marches, merged, marches_collisions = consolidation.kept, consolidation.merged, consolidation.collisions
    concessions, concessions_collisions = consolidate(read.concessions, "date_signature", "valeur_globale",
                                                      "concession")
    notices, merged_notices = deduplicate(read.avis)
    rejected = read.rejets + marches_collisions + concessions_collisions
    qualite = quality_table(read.fichiers, marches.frame, merged, concessions, notices, read.avis, rejected)
    return Normalized(
        marches=conform(enrich_marches(marches_table(marches.frame)), "marches"),
        titulaires=conform(enrich_titulaires(titulaires_table(marches.frame["uid"], marches.links)), "titulaires"),
        concessions=concessions_table(concessions),
        avis=avis_table(notices, merged_notices),
        rejets=rejets_table(rejected),
        qualite=conform(qualite, "qualite"),
        fichiers=read.fichiers,
        consolidation=consolidation,
        seed=read.seed,
        decisions=decisions,
    )


def _with_decision(frame: pd.DataFrame, table: str, scored=None) -> pd.DataFrame:
    folder = cache_dir()
    decided = classify(frame, cache=(folder, table) if folder is not None else None, scored=scored)
    out = frame.copy()
    for column in CLASSIFICATION_COLUMNS:
        out[column] = decided[column]
    return conform(out, table)


def classify_marches(marches: pd.DataFrame, scored=None, known: pd.DataFrame | None = None) -> pd.DataFrame:
    """``scored``: text-model logits already computed in this run (``_Prescoring``); ``known``: the decisions of
    the rows a history state holds unchanged (Normalized.decisions; missing elsewhere), the others classified."""
    if known is None:
        return _with_decision(marches, "marches", scored)
    out = marches.copy()
    for column in CLASSIFICATION_COLUMNS:
        out[column] = known[column].array
    todo = np.flatnonzero(known["innovant"].isna().to_numpy())
    if len(todo):
        # Without the logit cache: it keeps the texts of a whole history, and these are a few of them.
        decided = classify(marches.take(todo))
        for column in CLASSIFICATION_COLUMNS:
            out.loc[todo, column] = decided[column].to_numpy()
    return conform(out, "marches")


# From this many contracts read, the text model starts scoring their objets beside the consolidation.
PRESCORE_MIN_ROWS = 50_000


class _Prescoring:
    """The text model's scores of the objets just read, computed in a forked process while this one consolidates
    them (one core each), until the consolidation is done; the classification scores what is left, and takes
    these through the logit cache (classify.logit_cache.prescore). Measured on a national million: the
    consolidation's 6 s are as many seconds of the other core that the scoring (20 s of CPU) had to itself. Only
    with a cache folder (the scores travel through it) and a fork."""

    def __init__(self, read: Read) -> None:
        self.pending = None
        folder = cache_dir()
        if folder is None or len(read.marches) < PRESCORE_MIN_ROWS or "fork" not in mp.get_all_start_methods():
            return
        self.stop = mp.get_context("fork").Event()
        self.pending = Background(prescore, read.marches.frame["objet"], folder, "marches", self.stop)

    def result(self):
        """The scores so far (None without prescoring); the child stops after the chunk it is scoring."""
        if self.pending is None:
            return None
        self.stop.set()
        return self.pending.result()

    def cancel(self) -> None:
        if self.pending is not None:
            self.pending.cancel()


def classify_avis(avis: pd.DataFrame) -> pd.DataFrame:
    """Notices get the same rules as contracts, plus the signals their structured fields carry."""
    return _with_decision(avis, "avis")


def indicators(marches: pd.DataFrame, titulaires: pd.DataFrame | None = None) -> pd.DataFrame:
    return conform(compute_indicators(marches, titulaires, settings.innovative_smes()), "indicateurs")


def references(indicateurs: pd.DataFrame, marches: pd.DataFrame) -> pd.DataFrame:
    """Official figures beside ours (data/references.csv)."""
    return conform(compare_official(indicateurs, marches), "references")


def quality_failures(tables: dict[str, pd.DataFrame], names: Iterable[str] | None = None) -> list[str]:
    """Blocking business rules (Great Expectations suites of every published table, pipelines/quality), as human
    lines; empty when all pass. Warnings never block. ``names``: the tables whose suites run (default: all of
    ``tables``; the others are their context)."""
    from .quality import blocking_failures

    return blocking_failures(tables, names=names)


def input_manifest(fichiers: list[dict]) -> list[dict]:
    return [
        {k: f.get(k) for k in ("fichier", "format_source", "lus", "marches", "concessions", "avis", "rejetes", "erreur")
         if f.get(k) is not None}
        for f in fichiers
    ]


def publish_tables(marches, titulaires, concessions, avis, indicateurs, references_table, rejets, qualite, fichiers,
                   out_dir: Path, created: dt.datetime | None = None, steps: Steps = no_steps,
                   gate: Callable[[], None] | None = None) -> list[PublishedFile]:
    tables = {"marches": marches, "titulaires": titulaires, "concessions": concessions, "avis": avis,
              "indicateurs": indicateurs, "references": references_table, "rejets": rejets, "qualite": qualite}
    return publish(tables, out_dir, input_manifest(fichiers), created, steps=steps, gate=gate)


@dataclass(frozen=True)
class RunSummary:
    files: list[PublishedFile]
    marches: int
    innovants: int
    avis: int
    avis_innovants: int
    rejets: int
    fichiers: int


def _preload() -> None:
    """What the run needs once its files are read, imported while they are: scikit-learn for the classification,
    Great Expectations for the business rules, whose rounds of a national run are processes forked from this one:
    they inherit GX instead of each importing it again (three rounds, 4 s of CPU each; the import here costs one,
    while the reading workers keep both cores busy or, for a day or a month added, one); then the publication's
    Frictionless and the report's charts (matplotlib), 0.7 s."""
    text_model.preload()
    from .quality import preload as preload_expectations

    preload_expectations()
    importlib.import_module("frictionless")
    importlib.import_module(".report", __package__)


def run_from_files(paths: Iterable[str | Path], out_dir: Path, max_bytes: int | None = None,
                   steps: Steps = no_steps) -> RunSummary:
    paths = list(paths)
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(f"{missing[0]} : fichier ou dossier introuvable")
    with steps("parse"):
        ingested = ingest(paths, max_bytes, Path(out_dir), meanwhile=_preload, reuse_history=True)
        give_back()
    # The rows just read (notices, concessions, rejets, up to hundreds of thousands) are long-lived objects in no
    # reference cycle: out of the cyclic GC's scans until the run ends (they are still freed by reference counting).
    gc.freeze()
    prescoring = writer = None
    try:
        prescoring = _Prescoring(ingested)
        with steps("normalize"):
            normalized = normalize(ingested)
            del ingested
            give_back()
            writer = _history_writer(normalized)
            scored = prescoring.result()
        return _classify_validate_publish(normalized, out_dir, steps, scored, writer)
    finally:
        if prescoring is not None:
            prescoring.cancel()
        if writer is not None:
            writer.cancel()
        gc.unfreeze()


def _history_writer(normalized: Normalized) -> history.Writer | None:
    """The run's history state, written beside the classification (decp.history): the next run with the same files
    and more reads and classifies only the more."""
    folder, consolidation = cache_dir(), normalized.consolidation
    normalized.consolidation = None  # the writer's now: the run needs its tables only
    if folder is None or normalized.seed is None or consolidation is None:
        return None
    return history.Writer(folder, normalized.seed, consolidation,
                          fork=len(normalized.marches) >= BACKGROUND_CHECKS_MIN_ROWS)


# From this many contracts the business rules run in forked processes beside the classification and the writing
# of the publication.
BACKGROUND_CHECKS_MIN_ROWS = 50_000
# The suites start in three rounds, as their tables become final: those the classification leaves as they are,
# once normalised (their context, the contracts' uid and nb_titulaires, is final too); the classified tables, while
# the indicators are computed; the indicators and references, while the files are written. Measured on a national
# million: the suites took 12 s in one round after the classification, all of it beside the writing and the checks.
SETTLED_TABLES = ("titulaires", "concessions", "rejets", "qualite")
CLASSIFIED_TABLES = ("marches", "avis")


def _rules_by_table(tables: dict[str, pd.DataFrame], names: Iterable[str]) -> dict[str, list[str]]:
    return {name: quality_failures(tables, (name,)) for name in names if name in tables}


class _BusinessRules:
    """The GX suites of the publication, started in rounds as their tables become final (each round beside the
    caller when the contracts are many); ``gate`` raises PublicationError on a blocking failure and is called
    before the publication is swapped in."""

    def __init__(self, rows: int) -> None:
        self.fork = rows >= BACKGROUND_CHECKS_MIN_ROWS
        self.rounds: list[Background] = []

    def start(self, tables: dict[str, pd.DataFrame], names: Iterable[str]) -> None:
        self.rounds.append(Background(_rules_by_table, tables, tuple(names), fork=self.fork))

    def gate(self) -> None:
        found: dict[str, list[str]] = {}
        for pending in self.rounds:
            found.update(pending.result())
        failures = [line for name in TABLES if name in found for line in found[name]]
        if failures:
            raise PublicationError("règles métier non respectées (Great Expectations) : " + " ; ".join(failures[:5]))

    def cancel(self) -> None:
        for pending in self.rounds:
            pending.cancel()


def _classify_validate_publish(normalized: Normalized, out_dir: Path, steps: Steps, scored=None,
                               writer: history.Writer | None = None) -> RunSummary:
    rules = _BusinessRules(len(normalized.marches))
    try:
        rules.start({name: getattr(normalized, name) for name in ("marches", *SETTLED_TABLES)}, SETTLED_TABLES)
        with steps("classify"):
            marches = classify_marches(normalized.marches, scored, normalized.decisions)
            normalized.decisions = None
            del scored
            give_back()
            avis = classify_avis(normalized.avis)
            give_back()  # before the business rules' process is forked from this one
            tables = {"marches": marches, "titulaires": normalized.titulaires, "concessions": normalized.concessions,
                      "avis": avis, "rejets": normalized.rejets, "qualite": normalized.qualite}
            rules.start(tables, CLASSIFIED_TABLES)
            indicateurs = indicators(marches, normalized.titulaires)
            references_table = references(indicateurs, marches)
            give_back()
        with steps("validate"):
            rules.start({**tables, "indicateurs": indicateurs, "references": references_table},
                        [name for name in TABLES if name not in SETTLED_TABLES + CLASSIFIED_TABLES])
        with steps("publish"):
            files = publish_tables(marches, normalized.titulaires, normalized.concessions, avis, indicateurs,
                                   references_table, normalized.rejets, normalized.qualite, normalized.fichiers,
                                   out_dir, steps=steps, gate=rules.gate)
        if writer is not None:
            writer.finish(marches)
    finally:
        rules.cancel()
    return RunSummary(files, len(marches), int(marches["innovant"].sum()), len(avis), int(avis["innovant"].sum()),
                      len(normalized.rejets), len(normalized.fichiers))


class CollectionError(Exception):
    """A live crawl failed; nothing was published (its partial snapshots stay, to be resumed)."""


def last_complete_month(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    first_of_month = (today or dt.date.today()).replace(day=1)
    end = first_of_month - dt.timedelta(days=1)
    return end.replace(day=1), end


def run_live(out_dir: Path, since: dt.date, until: dt.date, sources: Iterable[str], raw_root: Path,
             crawl_settings: dict[str, str] | None = None, max_bytes: int | None = None) -> RunSummary:
    """Crawl each source over the window into the raw store, then publish from every committed snapshot."""
    from scrapers.crawl import run_crawl

    sources = list(sources)
    for source in sources:
        report = run_crawl(source, since, until, raw_root, settings=crawl_settings, timeout=settings.crawl_timeout_s())
        if not report.ok:
            tail = report.log_tail.strip().splitlines()[-1:] or ["(pas de journal)"]
            raise CollectionError(
                f"collecte {source} du {since} au {until} en échec (code {report.returncode}, partitions en échec : "
                f"{', '.join(report.partitions_failed) or 'aucune'}) ; dernière ligne du journal : {tail[0][:300]}"
            )
    files = [str(p) for source in sources for p in raw_files(raw_root, source)]
    if not files:
        raise NoInputError(f"{raw_root} : la collecte n'a produit aucun snapshot ; publication inchangée")
    return run_from_files(files, out_dir, max_bytes)
