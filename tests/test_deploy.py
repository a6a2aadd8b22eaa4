"""Deployment files: the Dockerfile, the instance yamls, the instance selector and the Helm values.

No Docker daemon in the tests: the Dockerfile is checked against the repository (what it copies exists and is not
excluded by .dockerignore, it installs from the pins, it serves the pyproject's module) and its CMD is started
for real from the venv on loopback. The instance yamls go through Dagster's own config validation.
"""

import json
import os
import shlex
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config

REPO_ROOT = Path(__file__).resolve().parents[1]
DEPLOY = REPO_ROOT / "deploy"
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["dagster"]
PG_ENV = {"ACHATS_PG_HOST": "db.example.invalid", "ACHATS_PG_PORT": "5433", "ACHATS_PG_DB": "dagster",
          "ACHATS_PG_USER": "dagster", "ACHATS_PG_PASSWORD": "secret"}


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in (REPO_ROOT / "Dockerfile").read_text().splitlines():
        if not current and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        current += raw.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        instruction, _, args = current.strip().partition(" ")
        lines.append((instruction.upper(), args.strip()))
        current = ""
    return lines


def instructions(name: str) -> list[str]:
    return [args for instruction, args in dockerfile() if instruction == name]


def test_dockerfile_base_and_copies_exist():
    assert instructions("FROM") == ["python:3.11-slim"]
    copies = instructions("COPY")
    assert copies
    ignore = [line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*", ".dockerignore is an allow-list"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    sources = []
    for args in copies:
        *srcs, _dest = shlex.split(args)
        sources += [s for s in srcs if not s.startswith("--")]
    for src in sources:
        assert (REPO_ROOT / src).exists(), f"COPY {src}: absent from the repository"
        assert src.rstrip("/") in allowed, f"COPY {src}: excluded by .dockerignore"
    # What the code reads next to its packages at run time (schemas/, schemas/source/, scrapy.cfg) is copied.
    for needed in ("pipelines", "scrapers", "schemas", "scrapy.cfg", "pyproject.toml", "constraints.txt"):
        assert needed in {s.rstrip("/") for s in sources}, needed


def test_dockerfile_installs_from_the_pins_without_dev_extras():
    installs = [args for args in instructions("RUN") if "pip install" in args]
    assert len(installs) == 1
    assert "-c constraints.txt" in installs[0]
    assert "[dev]" not in installs[0] and "-r " not in installs[0]
    user = instructions("USER")
    assert user and user[-1] not in ("root", "0")


def test_dockerfile_serves_the_pyproject_code_location():
    cmd = json.loads(instructions("CMD")[-1])
    assert cmd[:3] == ["dagster", "code-server", "start"]
    assert cmd[cmd.index("-m") + 1] == PYPROJECT["module_name"]
    assert cmd[cmd.index("--location-name") + 1] == PYPROJECT["code_location_name"]
    assert cmd[cmd.index("-h") + 1] == "0.0.0.0"
    assert instructions("EXPOSE") == [cmd[cmd.index("-p") + 1]]
    env = " ".join(instructions("ENV"))
    assert "DAGSTER_HOME=" in env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_dockerfile_cmd_starts_a_healthy_code_server(tmp_path):
    """The image's CMD, run from the venv on loopback: the code location loads and answers gRPC health checks."""
    cmd = json.loads(instructions("CMD")[-1])
    port = str(_free_port())
    cmd[cmd.index("-h") + 1] = "127.0.0.1"
    cmd[cmd.index("-p") + 1] = port
    bindir = Path(sys.executable).parent
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path))
    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster-sqlite.yaml").read_text())
    server = subprocess.Popen([str(bindir / cmd[0]), *cmd[1:]], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            check = subprocess.run([str(bindir / "dagster"), "api", "grpc-health-check", "-p", port],
                                   capture_output=True, text=True, env=env)
            if check.returncode == 0:
                break
            assert server.poll() is None, f"code server exited: {server.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "code server not healthy after 120 s"
            time.sleep(1)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def project_pools() -> set[str]:
    from pipelines.definitions import defs

    assets_defs = defs.resolve_asset_graph().assets_defs
    return {a.op.pool for a in assets_defs if a.is_executable and a.op.pool}


@pytest.mark.parametrize("name", ["dagster-postgres.yaml", "dagster-sqlite.yaml"])
def test_instance_yaml_is_valid_dagster_config(name):
    config, custom_class = dagster_instance_config(str(DEPLOY), config_filename=name)
    assert custom_class is None
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    # default_limit: 1 is meant for the crawl pools, and only them: a new pool must be thought about here.
    assert project_pools() == {"crawl_boamp", "crawl_ted", "crawl_decp"}
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert config["telemetry"] == {"enabled": False}
    if name == "dagster-postgres.yaml":
        db = config["storage"]["postgres"]["postgres_db"]
        assert {k: v["env"] for k, v in db.items() if isinstance(v, dict)} == {
            "username": "ACHATS_PG_USER", "password": "ACHATS_PG_PASSWORD", "hostname": "ACHATS_PG_HOST",
            "db_name": "ACHATS_PG_DB", "port": "ACHATS_PG_PORT"}
    else:
        assert "storage" not in config  # the embedded default


def test_instance_validation_rejects_a_typo(tmp_path):
    """Negative control: the validation above would catch a misspelt key."""
    broken = (DEPLOY / "dagster-sqlite.yaml").read_text().replace("default_limit:", "default_limmit:")
    (tmp_path / "dagster.yaml").write_text(broken)
    with pytest.raises(DagsterInvalidConfigError):
        dagster_instance_config(str(tmp_path))


def test_sqlite_instance_loads_with_the_project_settings(tmp_path):
    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster-sqlite.yaml").read_text())
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == 1
        assert concurrency.run_queue_config.max_concurrent_runs == 4


def test_postgres_yaml_same_settings_as_sqlite():
    pg = yaml.safe_load((DEPLOY / "dagster-postgres.yaml").read_text())
    lite = yaml.safe_load((DEPLOY / "dagster-sqlite.yaml").read_text())
    assert pg.pop("storage") and pg == lite


def _select(env: dict, home: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ACHATS_PG_")}
    return subprocess.run([sys.executable, str(DEPLOY / "select_instance.py")], capture_output=True, text=True,
                          env={**clean, "DAGSTER_HOME": str(home), **env})


def test_select_instance_follows_the_environment(tmp_path):
    assert _select({}, tmp_path / "a").returncode == 0
    assert (tmp_path / "a" / "dagster.yaml").read_text() == (DEPLOY / "dagster-sqlite.yaml").read_text()

    assert _select(PG_ENV, tmp_path / "b").returncode == 0
    assert (tmp_path / "b" / "dagster.yaml").read_text() == (DEPLOY / "dagster-postgres.yaml").read_text()

    partial = _select({"ACHATS_PG_HOST": "db.example.invalid"}, tmp_path / "c")
    assert partial.returncode == 2 and "ACHATS_PG_PASSWORD" in partial.stderr
    assert not (tmp_path / "c" / "dagster.yaml").exists()


def test_helm_values_name_the_image_and_the_module():
    values = yaml.safe_load((DEPLOY / "helm-values.yaml").read_text())
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert deployment["image"]["repository"].endswith("/achats-innovants")
    args = deployment["codeServerArgs"]
    assert args[args.index("-m") + 1] == PYPROJECT["module_name"]
    assert args[args.index("--location-name") + 1] == PYPROJECT["code_location_name"]
    expose = instructions("EXPOSE")[-1]
    assert str(deployment["port"]) == expose
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    k8s = launcher["config"]["k8sRunLauncher"]
    assert {"name": "achats-secrets"} in k8s["envSecrets"]
    assert [m["mountPath"] for m in k8s["volumeMounts"]] == ["/data"]
    # The Dockerfile points the raw store and the publication under /data, the volume mounted here.
    env = " ".join(instructions("ENV"))
    assert "ACHATS_RAW_DIR=/data/raw" in env and "ACHATS_OUT_DIR=/data/published" in env
    # Same pool rule as the instance yamls.
    instance = yaml.safe_load((DEPLOY / "dagster-postgres.yaml").read_text())
    assert values["concurrency"]["pools"]["defaultLimit"] == instance["concurrency"]["pools"]["default_limit"]
    assert values["concurrency"]["runs"]["maxConcurrentRuns"] == instance["concurrency"]["runs"]["max_concurrent_runs"]
    assert values["postgresql"]["enabled"] is False and values["generatePostgresqlPasswordSecret"] is False
