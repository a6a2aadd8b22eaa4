"""Per source, what the Dagster instance knows: the last partition collected, its rows, and the failures since.

The same records the UI reads (materialisations, and the failed runs that planned one), for an operator on
a terminal or a monitoring script (``achats-innovants status --json``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

import dagster as dg

ERROR_CHARS = 300


@dataclass
class AssetStatus:
    source: str
    asset: str
    derniere_partition: str | None = None  # latest partition (time order) successfully materialised
    lignes: int | None = None  # dagster/row_count of that materialisation
    materialise_le: str | None = None
    echecs_depuis: int = 0  # failed runs of the asset after its latest success (all of them when none succeeded)
    partitions_en_echec: list[str] = field(default_factory=list)  # failed since, and not materialised since
    dernier_echec_le: str | None = None
    dernier_echec_run: str | None = None
    dernier_echec_message: str | None = None
    partitions_materialisees: int | None = None
    partitions_total: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def _row_count(record) -> int | None:
    materialization = record.asset_materialization
    value = materialization.metadata.get("dagster/row_count") if materialization else None
    return int(value.value) if value is not None and value.value is not None else None


def _failure_message(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """First line of the first step error of the run (what the UI shows in red)."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        data = entry.dagster_event.step_failure_data if entry.dagster_event else None
        if data is not None and data.error is not None:
            return data.error.message.strip().splitlines()[0][:ERROR_CHARS] if data.error.message.strip() else None
    return None


def _partition(tags) -> str | None:
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    return tags.get("dagster/partition") or (f"{start}...{end}" if start and end else None)


def _failed_runs(instance: dg.DagsterInstance, key: dg.AssetKey, since: float | None) -> list:
    """Failed runs that were to materialise the asset, newest first. Dagster 1.13 records no failed-materialisation
    event on a step failure; the runs that planned the asset and failed are what the UI marks as failed."""
    planned = instance.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, asset_key=key,
                              after_timestamp=since), limit=10_000)
    run_ids = sorted({record.run_id for record in planned})
    if not run_ids:
        return []
    records = instance.get_run_records(dg.RunsFilter(run_ids=run_ids, statuses=[dg.DagsterRunStatus.FAILURE]))
    return sorted(records, key=lambda r: r.end_time or 0, reverse=True)


def asset_status(instance: dg.DagsterInstance, source: str, key: dg.AssetKey,
                 partitions_def: dg.PartitionsDefinition | None = None) -> AssetStatus:
    status = AssetStatus(source=source, asset=key.to_user_string())
    # The most recent success of any partition: the unpartitioned asset's last materialisation, and the point
    # after which failures are counted ("what went wrong since it last worked").
    latest = instance.fetch_materializations(key, limit=1).records
    last = latest[0] if latest else None
    done: set[str] = set()
    if partitions_def is not None:
        done = instance.get_materialized_partitions(key)
        status.partitions_materialisees = len(done)
        status.partitions_total = partitions_def.get_num_partitions()
        last = None
        if done:
            # Partition keys of daily and monthly definitions are ISO dates: the greatest is the latest in time.
            status.derniere_partition = max(done)
            found = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[status.derniere_partition]), limit=1)
            last = found.records[0] if found.records else None
    if last is not None:
        status.lignes = _row_count(last)
        status.materialise_le = _iso(last.timestamp)
    failures = _failed_runs(instance, key, latest[0].timestamp if latest else None)
    status.echecs_depuis = len(failures)
    if failures:
        newest = failures[0]
        status.dernier_echec_le = _iso(newest.end_time or newest.create_timestamp.timestamp())
        status.dernier_echec_run = newest.dagster_run.run_id
        status.dernier_echec_message = _failure_message(instance, newest.dagster_run.run_id)
        status.partitions_en_echec = sorted({p for r in failures if (p := _partition(r.dagster_run.tags))} - done)
    return status


def render(statuses: list[AssetStatus]) -> str:
    """A plain-text table, one line per source, then the last error of each failing source."""
    header = ("source", "dernière partition", "lignes", "matérialisée le", "échecs depuis", "partitions")
    rows = []
    for s in statuses:
        partitions = f"{s.partitions_materialisees}/{s.partitions_total}" if s.partitions_total is not None else "—"
        rows.append((s.source, s.derniere_partition or ("—" if s.partitions_total is not None else "(non partitionné)"),
                     "—" if s.lignes is None else f"{s.lignes:,}".replace(",", "\u202f"),
                     s.materialise_le or "jamais", str(s.echecs_depuis), partitions))
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in (header, *rows)]
    for s in statuses:
        if s.echecs_depuis:
            where = f" ; partitions en échec : {', '.join(s.partitions_en_echec[:10])}" if s.partitions_en_echec else ""
            lines.append(f"{s.source} : dernier échec le {s.dernier_echec_le} (run {s.dernier_echec_run}){where}"
                         + (f" — {s.dernier_echec_message}" if s.dernier_echec_message else ""))
    return "\n".join(lines)
