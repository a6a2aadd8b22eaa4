"""What makes the deployment run by itself and say when it does not: the DECP sensor, the automation sensor,
freshness checks per source and the alert on failed runs."""

import datetime as dt
import warnings

import dagster as dg

from scrapers.settings import DECP_API_URL, DECP_DATASET_ID

from .. import settings
from ..operations import alerts, decp_watch
from .assets import PIPELINE
from .collect import collecte_mensuelle, monthly, raw_boamp, raw_decp, raw_ted

TIMEZONE = "Europe/Paris"


def _status() -> dg.DefaultSensorStatus:
    """Sensors that start crawls or publications run only where ACHATS_AUTOMATISATION is set (production)."""
    return dg.DefaultSensorStatus.RUNNING if settings.automation_on() else dg.DefaultSensorStatus.STOPPED


class DecpCatalogue(dg.ConfigurableResource):
    """The data.gouv.fr dataset of the DECP consolidated files (same variables as the DECP spider)."""

    api_url: str = DECP_API_URL
    dataset_id: str = DECP_DATASET_ID
    timeout_s: float = 30.0


@dg.sensor(job=collecte_mensuelle, minimum_interval_seconds=3600, default_status=_status(),
           description="Starts the DECP month when data.gouv.fr publishes (or republishes) its consolidated file; "
                       "the cursor keeps the fingerprint of the file last seen for each month.")
def decp_nouveau_fichier(context: dg.SensorEvaluationContext, decp_catalogue: DecpCatalogue):
    try:
        resources = decp_watch.fetch_resources(decp_catalogue.api_url, decp_catalogue.dataset_id,
                                               decp_catalogue.timeout_s)
    except decp_watch.ListingUnavailable as exc:
        return dg.SkipReason(f"liste des fichiers DECP illisible, nouvel essai au prochain passage : {exc}")
    months = {key[:7] for key in monthly.get_partition_keys()}
    collected = {key[:7] for key in context.instance.get_materialized_partitions(raw_decp.key)}
    found, cursor = decp_watch.new_files(resources, decp_watch.load_cursor(context.cursor), months, collected)
    requests = [
        dg.RunRequest(
            partition_key=f"{new.month}-01",
            # The same file never starts two runs, even if the cursor were lost between two ticks.
            run_key=f"decp-{new.month}-{new.fingerprint}",
            tags={"decp/fichier": new.url, "decp/motif": "republication" if new.replaced else "nouveau"},
        )
        for new in found
    ]
    skip = None if requests else "aucun nouveau fichier DECP mensuel"
    return dg.SensorResult(run_requests=requests, cursor=decp_watch.dump_cursor(cursor), skip_reason=skip)


# Each source turns red when its latest partition has not arrived by the time its cadence allows: yesterday's
# BOAMP/TED day by noon (collected at 07:00, retries included), last month's DECP file by the 10th (data.gouv.fr
# publishes it in the first days of the month).
# Asset checks rather than the newer FreshnessPolicy: they judge the expected *partition* (yesterday, last month)
# against a deadline, they turn red in the asset's checks like the data checks do, and they can be tested by running
# them. Their factories are marked superseded in 1.13, not deprecated; the warning is silenced here only.
warnings.filterwarnings("ignore", category=dg.SupersessionWarning, module=__name__)
FRESHNESS_CHECKS = [
    *dg.build_time_partition_freshness_checks(assets=[raw_boamp, raw_ted], deadline_cron="0 12 * * *",
                                              timezone=TIMEZONE, severity=dg.AssetCheckSeverity.ERROR),
    *dg.build_time_partition_freshness_checks(assets=[raw_decp], deadline_cron="0 12 10 * *", timezone=TIMEZONE,
                                              severity=dg.AssetCheckSeverity.ERROR),
    # The publication is rebuilt after each collection: a day and a half without one means the chain is stuck.
    *dg.build_last_update_freshness_checks(assets=["publication"], lower_bound_delta=dt.timedelta(hours=36),
                                           timezone=TIMEZONE, severity=dg.AssetCheckSeverity.ERROR),
]
# Freshness checks only read the instance: they are evaluated everywhere, automation switched on or not.
fraicheur_des_sources = dg.build_sensor_for_freshness_checks(
    freshness_checks=FRESHNESS_CHECKS, name="fraicheur_des_sources", minimum_interval_seconds=600,
    default_status=dg.DefaultSensorStatus.RUNNING,
)

automatisation = dg.AutomationConditionSensorDefinition(
    "automatisation", target=PIPELINE, default_status=_status(), minimum_interval_seconds=60,
    description="Evaluates the automation conditions of the pipeline's assets: normalisation, classification, "
                "indicators and publication run again after each collection.",
)


@dg.run_failure_sensor(name="alerte_echec", monitor_all_code_locations=False, minimum_interval_seconds=30,
                       default_status=dg.DefaultSensorStatus.RUNNING,
                       description="A failed run becomes a structured alert: a JSON log line, plus the "
                                   "ACHATS_ALERT_FILE file and the ACHATS_ALERT_WEBHOOK webhook when configured.")
def alerte_echec(context: dg.RunFailureSensorContext):
    run = context.dagster_run
    step_failures = context.get_step_failure_events()
    # The step's own error says why ("crawl decp … failed (exit 1 …)"); the run's message only lists the steps.
    errors = [_root_cause(e.step_failure_data.error) for e in step_failures
              if e.step_failure_data and e.step_failure_data.error]
    planned = context.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
    record = context.instance.get_run_record_by_id(run.run_id)
    alert = alerts.build_alert(
        run.run_id, run.job_name, run.status.value, "\n".join(errors) or context.failure_event.message or "",
        partition=run.tags.get("dagster/partition") or _range(run.tags),
        assets=sorted({e.dagster_event.asset_key.to_user_string() for e in planned
                       if e.dagster_event and e.dagster_event.asset_key}),
        failed_steps=[e.step_key for e in step_failures if e.step_key],
        started=record.start_time if record else None, ended=record.end_time if record else None,
        dagster_url=settings.dagster_url(),
    )
    alerts.emit(alert, log=context.log, alert_file=settings.alert_file(), webhook=settings.alert_webhook())


def _root_cause(error) -> str:
    """The user's exception under Dagster's "Error occurred while executing op" wrapper."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def _range(tags) -> str | None:
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    return f"{start}...{end}" if start and end else None


SENSORS = [decp_nouveau_fichier, fraicheur_des_sources, automatisation, alerte_echec]
