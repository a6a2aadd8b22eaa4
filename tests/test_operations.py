"""Operations: the DECP sensor against a stand-in of data.gouv.fr, freshness checks, alerts, retries, status."""

import datetime as dt
import json
import os
import subprocess
import sys

import dagster as dg
import pytest
from dagster._core.test_utils import freeze_time  # the supported way to move Dagster's clock in tests

from pipelines import cli
from pipelines.defs import automation, collect
from pipelines.defs.resources import RawStore
from pipelines.operations import alerts, decp_watch
from pipelines.settings import REPO_ROOT, SAMPLE_DIR
from tests.replay import Reply, ReplayServer
from tests.test_spiders import DECP_BASE, DECP_DATASET, FAST

PARIS = dt.timezone(dt.timedelta(hours=1))  # November: CET
SAMPLE_MONTH = SAMPLE_DIR / "decp-2024-demo-2025-03.json"


def resource(month: str, server: ReplayServer | None = None, modified: str = "2025-04-03T08:00:00+00:00",
             fmt: str = "json", **extra) -> dict:
    base = server.url("/static") if server else "https://static.data.gouv.fr/resources/decp"
    return {"id": f"r-{month}-{fmt}", "title": f"decp-{month}.{fmt}", "format": fmt,
            "url": f"{base}/decp-{month}.{fmt}", "last_modified": modified, "filesize": 1234, **extra}


# ------------------------------------------------------------------------------------------- decp_watch (plain)
def test_new_files_first_sight_republication_and_same_file():
    months = {"2025-02", "2025-03", "2025-04"}
    listing = [resource("2025-02"), resource("2025-03"), resource("2025-03", fmt="xml"),
               {"id": "y", "title": "decp-2025.json", "url": "https://x/decp-2025.json"},  # yearly: never a month
               resource("2026-12")]  # not a partition yet (the month is not over): not remembered
    found, cursor = decp_watch.new_files(listing, {}, months, collected={"2025-02"})
    # 2025-02 was collected before the sensor existed: remembered, not crawled again; JSON preferred to XML.
    assert [(f.month, f.format, f.replaced) for f in found] == [("2025-03", "json", False)]
    assert set(cursor) == {"2025-02", "2025-03"}
    again, same_cursor = decp_watch.new_files(listing, cursor, months, collected={"2025-02"})
    assert again == [] and same_cursor == cursor
    republished = [resource("2025-02", modified="2025-05-01T00:00:00+00:00"), resource("2025-03")]
    found, cursor2 = decp_watch.new_files(republished, cursor, months, collected={"2025-02", "2025-03"})
    assert [(f.month, f.replaced) for f in found] == [("2025-02", True)]
    assert cursor2["2025-02"] != cursor["2025-02"] and cursor2["2025-03"] == cursor["2025-03"]


def test_fingerprint_follows_checksum_and_cursor_survives_garbage():
    a = resource("2025-03", checksum={"type": "sha1", "value": "aa"})
    b = resource("2025-03", checksum={"type": "sha1", "value": "bb"})
    assert decp_watch.fingerprint(a) != decp_watch.fingerprint(b)
    assert decp_watch.fingerprint(a) == decp_watch.fingerprint(dict(a))
    assert decp_watch.load_cursor("not json") == {} and decp_watch.load_cursor("[1]") == {}
    assert decp_watch.load_cursor(decp_watch.dump_cursor({"2025-03": "x"})) == {"2025-03": "x"}


@pytest.mark.parametrize("reply, problem", [
    (Reply(status=503, body=b"busy"), "503"),
    (Reply(body=b"<html>maintenance</html>"), "pas du JSON"),
    (Reply.json({"title": "not a dataset"}), "resources"),
    (Reply(body=b"[" + b"0," * 200 + b"0]"), "octets"),
])
def test_listing_errors_are_explained(reply, problem):
    with ReplayServer() as server:
        server.route("GET", f"{DECP_BASE}/datasets/{DECP_DATASET}/", reply)
        with pytest.raises(decp_watch.ListingUnavailable, match=problem):
            decp_watch.fetch_resources(server.url(DECP_BASE), DECP_DATASET, timeout_s=5, max_bytes=300)


# ------------------------------------------------------------------------------------------- the sensor
def _evaluate(server: ReplayServer, instance: dg.DagsterInstance, cursor: str | None):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor,
        resources={"decp_catalogue": automation.DecpCatalogue(api_url=server.url(DECP_BASE), dataset_id=DECP_DATASET,
                                                              timeout_s=5)})
    return automation.decp_nouveau_fichier(context)


def test_sensor_starts_a_month_for_a_new_file_and_not_for_the_same_file_twice():
    listing = {"resources": [resource("2025-03")]}
    with ReplayServer() as server, dg.instance_for_test() as instance:
        server.route("GET", f"{DECP_BASE}/datasets/{DECP_DATASET}/", lambda seen: Reply.json(listing))
        first = _evaluate(server, instance, None)
        assert [(r.partition_key, r.tags["decp/motif"]) for r in first.run_requests] == [("2025-03-01", "nouveau")]
        assert first.run_requests[0].run_key.startswith("decp-2025-03-")
        assert automation.decp_nouveau_fichier.job_name == "collecte_mensuelle"
        assert "2025-03-01" in collect.monthly.get_partition_keys()

        second = _evaluate(server, instance, first.cursor)
        assert second.run_requests == [] and "aucun nouveau fichier" in second.skip_reason.skip_message
        assert second.cursor == first.cursor

        # April's file appears, March's is republished with corrections: both start, each once.
        listing["resources"] = [resource("2025-03", modified="2025-06-01T00:00:00+00:00"), resource("2025-04")]
        third = _evaluate(server, instance, second.cursor)
        assert sorted((r.partition_key, r.tags["decp/motif"]) for r in third.run_requests) == [
            ("2025-03-01", "republication"), ("2025-04-01", "nouveau")]
        assert _evaluate(server, instance, third.cursor).run_requests == []
        assert len(server.requests(f"{DECP_BASE}/datasets/{DECP_DATASET}/")) == 4


def test_sensor_skips_and_keeps_its_cursor_when_data_gouv_is_down():
    with ReplayServer() as server, dg.instance_for_test() as instance:
        server.route("GET", f"{DECP_BASE}/datasets/{DECP_DATASET}/", Reply(status=502))
        result = _evaluate(server, instance, '{"2025-03":"abc"}')
    assert isinstance(result, dg.SkipReason) and "502" in result.skip_message


def test_sensor_does_not_recrawl_months_already_collected():
    with ReplayServer() as server, dg.instance_for_test() as instance:
        server.route("GET", f"{DECP_BASE}/datasets/{DECP_DATASET}/",
                     Reply.json({"resources": [resource("2025-02"), resource("2025-03")]}))
        instance.report_runless_asset_event(dg.AssetMaterialization("raw_decp", partition="2025-02-01"))
        result = _evaluate(server, instance, None)
    assert [r.partition_key for r in result.run_requests] == ["2025-03-01"]


def test_daily_schedule_collects_yesterday_and_starts_only_in_production(monkeypatch):
    schedule = collect.collecte_quotidienne_schedule
    context = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2026, 11, 26, 7, 0, tzinfo=PARIS))
    requests = list(schedule.evaluate_tick(context).run_requests)
    assert [r.partition_key for r in requests] == ["2026-11-25"]
    assert schedule.job_name == "collecte_quotidienne" and schedule.cron_schedule == "0 7 * * *"
    assert schedule.execution_timezone == "Europe/Paris"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED  # ACHATS_AUTOMATISATION unset in tests
    monkeypatch.setenv("ACHATS_AUTOMATISATION", "1")
    code = ("from pipelines.definitions import defs; "
            "print(sorted(f'{s.name}={s.default_status.value}' for s in [*defs.schedules, *defs.sensors]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == str(sorted(f"{name}=RUNNING" for name in (
        "collecte_quotidienne_schedule", "decp_nouveau_fichier", "automatisation", "fraicheur_des_sources",
        "alerte_echec"))), out.stderr[-2000:]


# ------------------------------------------------------------------------------------------- automation conditions
PIPELINE_ASSETS = ["entrees", "marches_normalises", "titulaires", "concessions", "avis_normalises", "rejets", "qualite",
                   "marches", "avis", "indicateurs", "references", "publication"]


def test_a_collection_requests_the_whole_pipeline_once():
    from pipelines.definitions import defs

    def requested(result) -> list[str]:
        return sorted(r.key.to_user_string() for r in result.results if r.true_subset.size > 0)

    with dg.instance_for_test() as instance:
        for key in PIPELINE_ASSETS:
            instance.report_runless_asset_event(dg.AssetMaterialization(key))
        idle = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert requested(idle) == []  # up to date, and thousands of never-collected partitions hold nothing back
        instance.report_runless_asset_event(dg.AssetMaterialization("raw_ted", partition="2026-11-25"))
        after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=idle.cursor)
        assert requested(after) == sorted(PIPELINE_ASSETS)  # one tick, so one run from entrees to publication
        assert requested(dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=after.cursor)) == []


# ------------------------------------------------------------------------------------------- freshness
def _freshness(instance: dg.DagsterInstance, now: dt.datetime) -> dict[str, bool]:
    with freeze_time(now):
        result = dg.materialize(
            [collect.raw_boamp, collect.raw_ted, collect.raw_decp, *automation.FRESHNESS_CHECKS[:2]],
            instance=instance, resources={"raw_store": RawStore(root="/nonexistent")},
            selection=dg.AssetSelection.checks_for_assets(collect.raw_boamp, collect.raw_ted, collect.raw_decp),
        )
    evaluations = result.get_asset_check_evaluations()
    assert all(e.severity == dg.AssetCheckSeverity.ERROR for e in evaluations)
    return {e.asset_key.to_user_string(): e.passed for e in evaluations}


def test_freshness_turns_red_when_a_source_misses_its_cadence():
    with dg.instance_for_test() as instance:
        for day in ("2026-11-24", "2026-11-25"):
            instance.report_runless_asset_event(dg.AssetMaterialization("raw_boamp", partition=day))
        instance.report_runless_asset_event(dg.AssetMaterialization("raw_ted", partition="2026-11-24"))
        instance.report_runless_asset_event(dg.AssetMaterialization("raw_decp", partition="2026-10-01"))
        # 26 Nov, 13:00 Paris: yesterday's BOAMP is in, TED stopped at the 24th; DECP has October (due by 10 Dec).
        noon_past = dt.datetime(2026, 11, 26, 13, 0, tzinfo=PARIS)
        assert _freshness(instance, noon_past) == {"raw_boamp": True, "raw_ted": False, "raw_decp": True}
        # Before the noon deadline, the 24th is still what TED owes: green.
        morning = dt.datetime(2026, 11, 26, 9, 0, tzinfo=PARIS)
        assert _freshness(instance, morning)["raw_ted"] is True
        # 10 Dec 13:00: November's DECP file is overdue.
        december = dt.datetime(2026, 12, 10, 13, 0, tzinfo=PARIS)
        assert _freshness(instance, december)["raw_decp"] is False


# ------------------------------------------------------------------------------------------- alerts
def test_alert_goes_to_the_log_the_file_and_the_webhook(tmp_path, caplog):
    alert = alerts.build_alert("abc123", "collecte_mensuelle", "FAILURE", "crawl decp failed\ntraceback…",
                               partition="2025-03-01", assets=["raw_decp"], failed_steps=["raw_decp"],
                               started=1_700_000_000, ended=1_700_000_060, dagster_url="https://dagster.example")
    assert alert["lien"] == "https://dagster.example/runs/abc123"
    assert alert["text"].startswith("[achats-innovants] échec du run collecte_mensuelle (partition 2025-03-01)")
    assert "traceback" not in alert["text"] and alert["debut"] == "2023-11-14T22:13:20+00:00"
    with ReplayServer() as server:
        server.route("POST", "/hook", Reply(status=200))
        with caplog.at_level("ERROR", logger="achats_innovants.alertes"):
            problems = alerts.emit(alert, alert_file=tmp_path / "a" / "alertes.jsonl", webhook=server.url("/hook"))
        posted = server.requests("/hook", "POST")
    assert problems == []
    assert json.loads(caplog.records[0].getMessage())["run_id"] == "abc123"
    assert json.loads((tmp_path / "a" / "alertes.jsonl").read_text(encoding="utf-8"))["job"] == "collecte_mensuelle"
    assert len(posted) == 1 and posted[0].json()["partition"] == "2025-03-01"


def test_an_unreachable_webhook_never_hides_the_alert(tmp_path):
    alert = alerts.build_alert("r1", "publier_decp", "FAILURE", "")
    with ReplayServer() as server:
        server.route("POST", "/hook", Reply(status=500))
        problems = alerts.emit(alert, alert_file=tmp_path / "alertes.jsonl", webhook=server.url("/hook"))
    assert len(problems) == 1 and "500" in problems[0]
    assert (tmp_path / "alertes.jsonl").read_text(encoding="utf-8").count("\n") == 1
    problems = alerts.emit(alert, webhook="http://127.0.0.1:9/hook")
    assert len(problems) == 1 and "127.0.0.1:9" in problems[0]


@dg.asset(partitions_def=collect.daily)
def casse(context: dg.AssetExecutionContext) -> None:
    raise RuntimeError(f"source injoignable pour {context.partition_key}")


def test_run_failure_sensor_writes_a_structured_alert(tmp_path, monkeypatch):
    monkeypatch.setenv("ACHATS_ALERT_FILE", str(tmp_path / "alertes.jsonl"))
    monkeypatch.setenv("ACHATS_DAGSTER_URL", "https://dagster.example/")
    with ReplayServer() as server, dg.instance_for_test() as instance:
        server.route("POST", "/hook", Reply(status=204))
        monkeypatch.setenv("ACHATS_ALERT_WEBHOOK", server.url("/hook"))
        result = dg.materialize([casse], instance=instance, partition_key="2026-11-25", raise_on_error=False)
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        context = dg.build_run_status_sensor_context(
            sensor_name="alerte_echec", dagster_instance=instance, dagster_run=run, dagster_event=failure,
        ).for_run_failure()
        automation.alerte_echec(context)
        posted = server.requests("/hook", "POST")
    alert = json.loads((tmp_path / "alertes.jsonl").read_text(encoding="utf-8"))
    assert alert["run_id"] == result.run_id and alert["partition"] == "2026-11-25"
    assert alert["etapes_en_echec"] == ["casse"] and alert["assets"] == ["casse"]
    assert alert["lien"] == f"https://dagster.example/runs/{result.run_id}"
    assert alert["message"] == "RuntimeError: source injoignable pour 2026-11-25"
    assert alert["debut"] and alert["fin"]
    assert posted and posted[0].json()["run_id"] == result.run_id


# ------------------------------------------------------------------------------------------- crawls, retries, status
def _serve_decp(server: ReplayServer, months: list[str], status: int = 200) -> None:
    body = SAMPLE_MONTH.read_bytes()
    for month in months:
        server.route("GET", f"/static/decp-{month}.json", Reply(body=body, headers={"Content-Type": "application/json"}))
    server.route("GET", f"{DECP_BASE}/datasets/{DECP_DATASET}/",
                 Reply.json({"resources": [resource(m, server) for m in months]}, status=status))


def _raw_store(server: ReplayServer, root) -> RawStore:
    return RawStore(root=str(root), crawl_settings={**FAST, "RETRY_TIMES": "0", "DECP_API_URL": server.url(DECP_BASE),
                                                    "DECP_DATASET_ID": DECP_DATASET}, crawl_timeout_s=120)


def test_definitions_carry_retries_with_backoff_owners_and_pools():
    for asset in (collect.raw_boamp, collect.raw_ted, collect.raw_decp):
        policy = asset.op.retry_policy
        assert policy.max_retries >= 1 and policy.backoff == dg.Backoff.EXPONENTIAL and policy.delay >= 60
        assert asset.owners_by_key[asset.key] == collect.OWNERS
        assert asset.op.pool == f"crawl_{asset.key.path[-1][4:]}"
    from pipelines.definitions import defs

    graph = defs.get_repository_def().asset_graph
    groups = {graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {"collecte", "normalisation", "classement", "indicateurs", "publication"}
    conditions = {key.to_user_string(): graph.get(key).automation_condition for key in graph.get_all_asset_keys()}
    assert all(conditions[k] is not None for k in ("entrees", "marches", "indicateurs", "publication"))
    assert all(graph.get(key).owners for key in graph.get_all_asset_keys())
    assert all(graph.get(key).description for key in graph.get_all_asset_keys())


def test_transient_failure_is_retried_and_a_permanent_one_is_not(tmp_path, monkeypatch):
    monkeypatch.setenv("ACHATS_CRAWL_RETRIES", "1")
    monkeypatch.setenv("ACHATS_CRAWL_RETRY_DELAY_S", "0")
    asset = collect.crawl_asset("decp", collect.monthly)  # the real asset, with a retry policy the test can afford
    with ReplayServer() as server, dg.instance_for_test() as instance:
        _serve_decp(server, ["2025-03"], status=503)
        transient = dg.materialize([asset], instance=instance, partition_key="2025-03-01", raise_on_error=False,
                                   resources={"raw_store": _raw_store(server, tmp_path / "raw")})
        listing = f"{DECP_BASE}/datasets/{DECP_DATASET}/"
        assert not transient.success and len(server.requests(listing)) == 2  # first attempt + one retry
        _serve_decp(server, [])  # answered, but March is not published: retrying would not help
        permanent = dg.materialize([asset], instance=instance, partition_key="2025-03-01", raise_on_error=False,
                                   resources={"raw_store": _raw_store(server, tmp_path / "raw")})
        assert not permanent.success and len(server.requests(listing)) == 3
    kinds = [e.event_type for e in permanent.all_events]
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in kinds
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY in [e.event_type for e in transient.all_events]


def test_status_reports_last_partition_rows_and_failures_since(tmp_path, monkeypatch, capsys):
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with ReplayServer() as server, dg.DagsterInstance.from_config(str(home)) as instance:
        _serve_decp(server, ["2025-02", "2025-03"])
        store = _raw_store(server, tmp_path / "raw")
        for month in ("2025-02-01", "2025-03-01"):
            ok = dg.materialize([collect.raw_decp], instance=instance, partition_key=month,
                                resources={"raw_store": store})
            assert ok.success
        metadata = ok.get_asset_materialization_events()[0].materialization.metadata
        assert metadata["par_partition"].value == {"2025-03": {"fichiers": 1, "octets": SAMPLE_MONTH.stat().st_size}}
        # robots.txt (404 here), the listing, the file.
        assert metadata["requetes"].value == 3 and metadata["reponses_par_statut"].value["200"] == 2
        _serve_decp(server, ["2025-02", "2025-03"])  # April is not there yet: its crawl fails, not transient
        failed = dg.materialize([collect.raw_decp], instance=instance, partition_key="2025-04-01",
                                resources={"raw_store": store}, raise_on_error=False)
        assert not failed.success
    assert cli.main(["status", "--json"]) == 0
    statuses = {s["source"]: s for s in json.loads(capsys.readouterr().out)}
    decp = statuses["decp"]
    assert decp["derniere_partition"] == "2025-03-01" and decp["lignes"] == 1
    assert decp["echecs_depuis"] == 1 and decp["partitions_en_echec"] == ["2025-04-01"]
    assert decp["dernier_echec_run"] == failed.run_id and "crawl decp" in decp["dernier_echec_message"]
    assert decp["partitions_materialisees"] == 2 and decp["partitions_total"] == len(collect.monthly.get_partition_keys())
    assert statuses["boamp"]["derniere_partition"] is None and statuses["boamp"]["echecs_depuis"] == 0
    assert cli.main(["status"]) == 0
    table = capsys.readouterr().out
    assert "2025-03-01" in table and "decp : dernier échec" in table and "2025-04-01" in table


def test_status_without_an_instance_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "absent"))
    assert cli.main(["status"]) == 1
    assert "aucune instance Dagster" in capsys.readouterr().err


def test_dagster_definitions_validate(tmp_path):
    # DAGSTER_HOME set by the Makefile may not exist yet in a fresh clone: the command needs an existing folder.
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-m", "pipelines.definitions"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Validation successful" in result.stderr + result.stdout
