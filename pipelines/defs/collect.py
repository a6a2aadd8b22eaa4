"""Raw assets: one Scrapy crawl per partition, run in a subprocess, snapshots committed to the raw store."""

import datetime as dt
import warnings
from pathlib import Path

import dagster as dg

from scrapers.crawl import run_crawl, window_partitions
from scrapers.snapshots import SnapshotStore

from .. import settings
from .resources import RawStore

# BackfillPolicy is beta in 1.13 and used on purpose (one crawl per backfilled range): say it once, not at each load.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

GROUP = "collecte"
OWNERS = ["team:observatoire-collecte"]
START = "2024-01-01"  # DECP 2024 format (marcheInnovant) and eForms notices are both in force from here
daily = dg.DailyPartitionsDefinition(start_date=START, timezone="Europe/Paris")
monthly = dg.MonthlyPartitionsDefinition(start_date=START, timezone="Europe/Paris")

DESCRIPTIONS = {
    "boamp": "BOAMP notices of one publication day (Opendatasoft Explore v2.1, DILA), raw pages as returned.",
    "ted": "TED notices of French buyers of one publication day (search API v3 + notice XML), raw as returned.",
    "decp": "DECP consolidated monthly file(s) of one month (data.gouv.fr), raw as returned.",
}


def crawl_window(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    window = context.partition_time_window
    return window.start.date(), (window.end - dt.timedelta(days=1)).date()


def _partition_files(raw_root: Path, source: str, partitions: list[str]) -> dict[str, dict]:
    """Files and bytes of each committed partition of the window, read from its manifest: a backfill of a range is
    one run, and this keeps the per-partition figures apart."""
    store = SnapshotStore(raw_root, source)
    committed = set(store.partitions())
    figures = {}
    for partition in partitions:
        if partition in committed:
            entries = store.read_manifest(partition)
            figures[partition] = {"fichiers": len(entries), "octets": sum(e.bytes for e in entries)}
    return figures


def _crawl_metadata(report, per_partition: dict[str, dict]) -> dict:
    return {
        "partitions_ecrites": dg.MetadataValue.json(report.partitions_written),
        "partitions_en_echec": dg.MetadataValue.json(report.partitions_failed),
        "par_partition": dg.MetadataValue.json(per_partition),
        "requetes": report.requests,
        "reponses_par_statut": dg.MetadataValue.json(report.responses_by_status),
        "fichiers": report.items,
        "octets": report.bytes,
        "duree_s": round(report.duration_s, 1),
        "dagster/row_count": report.items,
    }


def retry_policy() -> dg.RetryPolicy:
    """Transient source failures (network, 429, 5xx, a killed crawl) are retried with exponential backoff and jitter,
    so a flaky evening of the source does not cost a day; each retry resumes the partial partitions."""
    return dg.RetryPolicy(max_retries=settings.crawl_retries(), delay=settings.crawl_retry_delay_s(),
                          backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def crawl_asset(source: str, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    # A backfill of a range is one crawl over the whole window (one subprocess, polite pacing across days),
    # which still writes and commits one snapshot partition per day or month.
    @dg.asset(name=f"raw_{source}", group_name=GROUP, partitions_def=partitions_def, kinds={"scrapy"},
              description=DESCRIPTIONS[source], owners=OWNERS, tags={"source": source},
              # One pool per source, limited to 1 in dagster.yaml: two crawls of a source never run at once.
              pool=f"crawl_{source}", retry_policy=retry_policy(),
              backfill_policy=dg.BackfillPolicy.single_run())
    def _asset(context: dg.AssetExecutionContext, raw_store: RawStore) -> dg.MaterializeResult:
        start, end = crawl_window(context)
        report = run_crawl(source, start, end, Path(raw_store.root), settings=raw_store.crawl_settings,
                           timeout=raw_store.crawl_timeout_s)
        metadata = _crawl_metadata(report, _partition_files(Path(raw_store.root), source,
                                                            window_partitions(source, start, end)))
        if not report.ok:
            kind = "transient, retried with backoff" if report.transient else "not transient, not retried"
            raise dg.Failure(
                description=f"crawl {source} {start}..{end} failed (exit {report.returncode}, {kind}); partial "
                            "partitions are kept and the next run resumes them",
                metadata={**metadata, "journal": dg.MetadataValue.text(report.log_tail[-4000:])},
                allow_retries=report.transient,
            )
        return dg.MaterializeResult(metadata=metadata)

    return _asset


raw_boamp = crawl_asset("boamp", daily)
raw_ted = crawl_asset("ted", daily)
raw_decp = crawl_asset("decp", monthly)

# Both crawls run side by side (their own processes; each is a Scrapy subprocess anyway).
collecte_quotidienne = dg.define_asset_job(
    "collecte_quotidienne", selection=[raw_boamp, raw_ted], partitions_def=daily, executor_def=dg.multiprocess_executor,
    description="Crawl one publication day of BOAMP and TED into the raw store.",
)
collecte_mensuelle = dg.define_asset_job(
    "collecte_mensuelle", selection=[raw_decp], partitions_def=monthly, executor_def=dg.multiprocess_executor,
    description="Crawl one month of DECP consolidated files into the raw store (started by the decp_nouveau_fichier "
                "sensor when data.gouv.fr publishes the month's file).",
)
# Yesterday's BOAMP/TED day each morning (both publish during the day). DECP has no schedule: its monthly file comes
# out on no fixed day, so the sensor of defs/automation.py starts the month when the file appears.
collecte_quotidienne_schedule = dg.build_schedule_from_partitioned_job(
    collecte_quotidienne, hour_of_day=7,
    # RUNNING only where ACHATS_AUTOMATISATION is set (production): `dagster dev` on a laptop crawls nothing by itself.
    default_status=dg.DefaultScheduleStatus.RUNNING if settings.automation_on() else dg.DefaultScheduleStatus.STOPPED,
)
