"""Raw assets: one Scrapy crawl per partition, run in a subprocess, snapshots committed to the raw store."""

import datetime as dt
from pathlib import Path

import dagster as dg

from scrapers.crawl import run_crawl

from .resources import RawStore

GROUP = "collecte"
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


def _crawl_metadata(report) -> dict:
    return {
        "partitions_ecrites": dg.MetadataValue.json(report.partitions_written),
        "partitions_en_echec": dg.MetadataValue.json(report.partitions_failed),
        "requetes": report.requests,
        "reponses_par_statut": dg.MetadataValue.json(report.responses_by_status),
        "fichiers": report.items,
        "octets": report.bytes,
        "duree_s": round(report.duration_s, 1),
        "dagster/row_count": report.items,
    }


def crawl_asset(source: str, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    # A backfill of a range is one crawl over the whole window (one subprocess, polite pacing across days),
    # which still writes and commits one snapshot partition per day or month.
    @dg.asset(name=f"raw_{source}", group_name=GROUP, partitions_def=partitions_def, kinds={"scrapy"},
              description=DESCRIPTIONS[source], pool=f"crawl_{source}",
              backfill_policy=dg.BackfillPolicy.single_run())
    def _asset(context: dg.AssetExecutionContext, raw_store: RawStore) -> dg.MaterializeResult:
        start, end = crawl_window(context)
        report = run_crawl(source, start, end, Path(raw_store.root), settings=raw_store.crawl_settings,
                           timeout=raw_store.crawl_timeout_s)
        metadata = _crawl_metadata(report)
        if not report.ok:
            raise dg.Failure(
                description=f"crawl {source} {start}..{end} failed (exit {report.returncode}); partial partitions "
                            "are kept and the next run resumes them",
                metadata={**metadata, "journal": dg.MetadataValue.text(report.log_tail[-4000:])},
            )
        return dg.MaterializeResult(metadata=metadata)

    return _asset


raw_boamp = crawl_asset("boamp", daily)
raw_ted = crawl_asset("ted", daily)
raw_decp = crawl_asset("decp", monthly)

collecte_quotidienne = dg.define_asset_job(
    "collecte_quotidienne", selection=[raw_boamp, raw_ted], partitions_def=daily,
    description="Crawl one publication day of BOAMP and TED into the raw store.",
)
collecte_mensuelle = dg.define_asset_job(
    "collecte_mensuelle", selection=[raw_decp], partitions_def=monthly,
    description="Crawl one month of DECP consolidated files into the raw store.",
)
# Yesterday's BOAMP/TED day each morning (both publish during the day), the past month on the 5th (the monthly
# DECP file is published in the first days of the next month).
collecte_quotidienne_schedule = dg.build_schedule_from_partitioned_job(collecte_quotidienne, hour_of_day=7)
collecte_mensuelle_schedule = dg.build_schedule_from_partitioned_job(collecte_mensuelle, day_of_month=5, hour_of_day=8)
