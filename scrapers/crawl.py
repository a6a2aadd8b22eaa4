"""Run one crawl in a subprocess and report on it (for the Dagster raw assets and for operators).

Twisted's reactor cannot be restarted inside a long-lived process, so every crawl is
``python -m scrapy crawl <source> -a from_date=… -a until_date=… -s RAW_STORE=…`` with the same interpreter, from
the repository root (where ``scrapy.cfg`` is). The crawl writes ``<RAW_STORE>/<source>/_crawls/<crawl-id>.json``
at close (extensions.CrawlStatsFile) and its log next to it; ``run_crawl`` reads both into a CrawlReport.
This module imports no Scrapy.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from scrapers.snapshots import SnapshotStore

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("decp", "boamp", "ted")
MONTHLY_SOURCES = ("decp",)
SETTING_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
LOG_TAIL_LINES = 60


@dataclass(frozen=True)
class CrawlReport:
    source: str
    partitions_written: list[str]
    partitions_failed: list[str]
    requests: int  # network requests (retries and robots.txt included; files resumed from disk excluded)
    responses_by_status: dict[str, int]  # network responses by HTTP status
    items: int  # raw files in the partitions this crawl handled (written + resumed from a killed crawl)
    bytes: int  # bytes of those files
    duration_s: float
    returncode: int
    log_tail: str
    stats: dict = field(default_factory=dict)  # the crawl's stats JSON ({} if the crawl died before writing it)

    @property
    def ok(self) -> bool:
        """Finished normally, nothing failed, every partition it touched was swapped in."""
        return (
            self.returncode == 0
            and self.stats.get("finish_reason") == "finished"
            and not self.partitions_failed
            and not self.stats.get("crawl_failures")
        )

    @property
    def transient(self) -> bool:
        """A failure worth retrying later: the crawl died or timed out (it resumes its partial partitions), the
        source answered 429 or 5xx, or the network failed. A 404, a robots.txt refusal or a malformed answer
        after Scrapy's own retries would fail the same way again."""
        if not self.stats or self.returncode < 0:
            return True
        if any(status == "429" or status.startswith("5") for status in self.responses_by_status):
            return True
        return int(self.stats.get("stats", {}).get("downloader/exception_count", 0) or 0) > 0


def window_partitions(source: str, from_date: dt.date, until_date: dt.date) -> list[str]:
    if source in MONTHLY_SOURCES:
        keys, year, month = [], from_date.year, from_date.month
        while (year, month) <= (until_date.year, until_date.month):
            keys.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return keys
    return [(from_date + dt.timedelta(days=i)).isoformat() for i in range((until_date - from_date).days + 1)]


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not path.is_file():
        return ""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 64 * 1024))
        text = fh.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _wait(proc: subprocess.Popen, started: float, timeout: float | None, cancel: threading.Event | None,
          kill_grace: float) -> int:
    """Wait for the crawl; on timeout or cancel: SIGTERM, then SIGKILL after ``kill_grace`` seconds."""
    while True:
        try:
            return proc.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            expired = timeout is not None and time.monotonic() - started > timeout
            if not expired and not (cancel is not None and cancel.is_set()):
                continue
        proc.terminate()
        try:
            proc.wait(timeout=kill_grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return proc.returncode if proc.returncode != 0 else -15


class CrawlBusy(RuntimeError):
    """Another crawl of the same source is running on this raw store."""


def run_crawl(source: str, from_date: dt.date, until_date: dt.date, raw_store: Path, **kwargs) -> CrawlReport:
    """Crawl ``source`` over [from_date, until_date]; see ``_run_crawl``. Two crawls of one source never overlap
    (a schedule run and a backfill, a CLI run during a Dagster run): they would resume and commit each other's
    partial partitions. The second one fails at once with CrawlBusy."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r} (expected one of {', '.join(SOURCES)})")
    base = Path(raw_store).resolve() / source
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".crawl.lock", "a+b") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise CrawlBusy(f"a crawl of {source} is already running on {raw_store}") from exc
        try:
            return _run_crawl(source, from_date, until_date, raw_store, **kwargs)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run_crawl(source: str, from_date: dt.date, until_date: dt.date, raw_store: Path, *, sample: int | None = None,
              settings: dict[str, str] | None = None, timeout: float | None = None,
              kill_grace: float = 10.0, cancel: threading.Event | None = None) -> CrawlReport:
    """Crawl ``source`` over [from_date, until_date] into ``raw_store`` in a subprocess.

    ``settings`` are passed as ``-s NAME=value``. After ``timeout`` seconds the crawl gets SIGTERM (Scrapy closes
    the spider with reason ``shutdown``: nothing is swapped in, partial partitions stay resumable), then SIGKILL
    after ``kill_grace`` more seconds. Setting ``cancel`` (e.g. from a run-termination hook) does the same at once.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r} (expected one of {', '.join(SOURCES)})")
    if from_date > until_date:
        raise ValueError(f"from_date {from_date} is after until_date {until_date}")
    raw_store = Path(raw_store).resolve()
    store = SnapshotStore(raw_store, source + ("_sample" if sample else ""))
    crawl_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
    crawls = store.crawls_dir()
    crawls.mkdir(parents=True, exist_ok=True)
    stats_file, log_file = crawls / f"{crawl_id}.json", crawls / f"{crawl_id}.log"
    cmd = [
        sys.executable, "-m", "scrapy", "crawl", source,
        "-a", f"from_date={from_date.isoformat()}", "-a", f"until_date={until_date.isoformat()}",
        "-s", f"RAW_STORE={raw_store}", "-s", f"CRAWL_ID={crawl_id}", "-s", f"CRAWL_STATS_FILE={stats_file}",
    ]
    if sample:
        cmd += ["-a", f"sample={int(sample)}"]
    for name, value in (settings or {}).items():
        if not SETTING_NAME.match(name):
            raise ValueError(f"setting name {name!r} not allowed")
        cmd += ["-s", f"{name}={value}"]
    env = dict(os.environ, SCRAPY_SETTINGS_MODULE="scrapers.settings")
    started = time.monotonic()
    with open(log_file, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            returncode = _wait(proc, started, timeout, cancel, kill_grace)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    duration = time.monotonic() - started
    stats: dict = {}
    if stats_file.is_file():
        try:
            stats = json.loads(stats_file.read_text(encoding="utf-8"))
        except ValueError:
            stats = {}
    if stats:
        written, failed = list(stats.get("partitions_written", [])), list(stats.get("partitions_failed", []))
    else:  # died before writing its stats (killed, crashed at start): what is left partial failed
        written = []
        partials = set(store.partials())
        failed = [p for p in window_partitions(source, from_date, until_date) if p in partials]
    return CrawlReport(
        source=source, partitions_written=written, partitions_failed=failed,
        requests=int(stats.get("requests", 0)),
        responses_by_status={str(k): int(v) for k, v in stats.get("responses_by_status", {}).items()},
        items=int(stats.get("items", 0)), bytes=int(stats.get("bytes", 0)), duration_s=round(duration, 3),
        returncode=returncode, log_tail=_tail(log_file), stats=stats,
    )
