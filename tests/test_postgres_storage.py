"""The PostgreSQL instance (deploy/dagster-postgres.yaml) against a real server started on loopback.

A throwaway PostgreSQL cluster (Debian's `postgresql` package: initdb, pg_ctl) listens on 127.0.0.1 for the test
session; the instance is built from the shipped yaml with the ACHATS_PG_* variables, runs are materialized on it,
then read back through Dagster and straight from the `runs` table. Skipped when PostgreSQL is not installed,
except in CI (CI set), where a missing server is a failure: .ci/run installs it.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import dagster as dg
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PG_TEMPLATE = REPO_ROOT / "deploy" / "dagster-postgres.yaml"
USER = "achats"


def _pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if found:
        return Path(found[-1]).parent  # newest major version when several are installed
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        bindir = Path(out.stdout.strip())
        if (bindir / "postgres").exists() and (bindir / "initdb").exists():
            return bindir
    return None


def _unavailable(reason: str):
    # CI installs PostgreSQL (.ci/run): there, a missing server must not turn the acceptance test into a skip.
    if os.environ.get("CI"):
        pytest.fail(f"CI : {reason} (le test PostgreSQL ne doit pas être ignoré en CI)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Server:
    def __init__(self, bindir: Path, root: Path, as_user: str | None):
        self.bindir, self.root, self.as_user = bindir, root, as_user
        self.data = root / "data"
        self.port = _free_port()

    def run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        # PostgreSQL refuses to run as root: as root, every server tool runs as the `postgres` system user.
        cmd = [str(self.bindir / tool), *args]
        if self.as_user:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.root)

    def start(self) -> None:
        init = self.run("initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        if init.returncode:
            raise RuntimeError(f"initdb a échoué :\n{init.stdout}\n{init.stderr}")
        # Loopback only, socket in the throwaway folder (not /var/run/postgresql), no fsync: a test cluster.
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root} "
                   "-c fsync=off -c full_page_writes=off")
        start = self.run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options,
                         "-w", "-t", "60", "start")
        if start.returncode:
            log = (self.root / "server.log").read_text(errors="replace") if (self.root / "server.log").exists() else ""
            raise RuntimeError(f"pg_ctl start a échoué :\n{start.stdout}\n{start.stderr}\n{log}")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def connect(self, dbname: str):
        import psycopg2

        return psycopg2.connect(host="127.0.0.1", port=self.port, user=USER, dbname=dbname, connect_timeout=10)

    def create_database(self, name: str) -> None:
        conn = self.connect("postgres")
        conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
        conn.close()


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server on 127.0.0.1 for the session; stopped and removed at the end, also on failure."""
    bindir = _pg_bindir()
    if bindir is None:
        _unavailable("PostgreSQL introuvable (ni /usr/lib/postgresql/*/bin/postgres ni pg_config) : "
                     "apt-get install postgresql")
    as_user = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("exécution en root sans utilisateur système `postgres` pour lancer le serveur")
        as_user = "postgres"
    # Not pytest's tmp_path: its parent is private to root, and the server runs as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="achats-pg-"))
    if as_user:
        entry = pwd.getpwnam(as_user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    server = _Server(bindir, root, as_user)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_db(postgres, request) -> str:
    """A fresh database per test, as an operator creates one before the first start (tables come from Dagster)."""
    name = "dagster_" + request.node.name.removeprefix("test_")[:40]
    postgres.create_database(name)
    return name


@pytest.fixture
def pg_instance(postgres, pg_db, tmp_path, monkeypatch):
    """The Dagster instance the operator gets: DAGSTER_HOME holding a copy of deploy/dagster-postgres.yaml."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PG_TEMPLATE, home / "dagster.yaml")
    for name, value in {"DAGSTER_HOME": str(home), "ACHATS_PG_HOST": "127.0.0.1",
                        "ACHATS_PG_PORT": str(postgres.port), "ACHATS_PG_DB": pg_db, "ACHATS_PG_USER": USER,
                        "ACHATS_PG_PASSWORD": ""}.items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.get() as instance:
        yield instance


parts = dg.StaticPartitionsDefinition(["2025-03", "2025-04"])


@dg.asset(partitions_def=parts, pool="crawl_boamp")
def sonde(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"partition": context.partition_key, "lignes": 42})


def test_instance_is_postgres_with_project_pools(pg_instance):
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    assert isinstance(pg_instance.run_storage, PostgresRunStorage)
    assert isinstance(pg_instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(pg_instance.schedule_storage, PostgresScheduleStorage)
    assert type(pg_instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    pools = pg_instance.get_concurrency_config().pool_config
    assert pools.default_pool_limit == 1
    assert pools.pool_granularity.value == "op"


def test_materialization_round_trip(pg_instance, postgres, pg_db):
    started = time.monotonic()
    result = dg.materialize([sonde], instance=pg_instance, partition_key="2025-04")
    assert result.success

    runs = pg_instance.get_runs()
    assert [r.run_id for r in runs] == [result.run_id]
    assert runs[0].status == dg.DagsterRunStatus.SUCCESS
    assert runs[0].tags["dagster/partition"] == "2025-04"

    event = pg_instance.get_latest_materialization_event(dg.AssetKey("sonde"))
    assert event is not None and event.run_id == result.run_id
    materialization = event.asset_materialization
    assert materialization.partition == "2025-04"
    assert materialization.metadata["lignes"].value == 42
    assert pg_instance.get_materialized_partitions(dg.AssetKey("sonde")) == {"2025-04"}

    # The step took its pool's slot, created from `pools: default_limit: 1` in the Postgres concurrency tables.
    info = pg_instance.event_log_storage.get_concurrency_info("crawl_boamp")
    assert info.slot_count == 1

    # Straight from the server: the run and its events are rows in PostgreSQL, not in a SQLite file.
    with postgres.connect(pg_db) as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM runs WHERE run_id = %s", (result.run_id,))
        assert cur.fetchall() == [("SUCCESS",)]
        cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = %s",
                    (result.run_id, "ASSET_MATERIALIZATION"))
        assert cur.fetchone() == (1,)
    conn.close()
    home = Path(os.environ["DAGSTER_HOME"])
    assert not list(home.rglob("*.db")), "an SQLite database was created next to the Postgres instance"
    assert time.monotonic() - started < 120


def test_project_asset_on_postgres(pg_instance, tmp_path):
    """The project's own `entrees` asset, on the shipped sample, recorded in the Postgres instance."""
    from pipelines import settings
    from pipelines.defs.assets import entrees
    from pipelines.defs.resources import DecpInputs, PublicationTarget, RawStore

    sample = [str(p) for p in settings.sample_files()]
    result = dg.materialize(
        [entrees], instance=pg_instance,
        resources={"decp_inputs": DecpInputs(paths=sample),
                   "raw_store": RawStore(root=str(tmp_path / "raw")),
                   "publication_target": PublicationTarget(out_dir=str(tmp_path / "published"))},
    )
    assert result.success
    event = pg_instance.get_latest_materialization_event(dg.AssetKey("entrees"))
    assert event is not None and event.run_id == result.run_id
    metadata = event.asset_materialization.metadata
    assert metadata["fichiers"].value == len(sample)
    assert metadata["marches_lus"].value > 0
    assert pg_instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS
