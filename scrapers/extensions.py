"""Extensions write the outputs (kingfisher-collect's rule): raw snapshots and the crawl's stats file.

``RawSnapshots`` writes every RawFile item that passed the pipelines into ``<source>/.<partition>.partial/`` and,
when the spider closes with reason ``finished``, swaps in each partition that had no failure. A partition with a
failure, or any partition of a crawl that stopped early (killed, shut down, closespider…), stays partial: the next
crawl of the same window resumes it (``middlewares.SnapshotResumeMiddleware``) instead of refetching.
``CrawlStatsFile`` writes ``_crawls/<crawl-id>.json``, which ``scrapers.crawl.run_crawl`` turns into a CrawlReport.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import uuid
import weakref
from pathlib import Path
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.crawler import Crawler

from scrapers.items import FetchFailure, RawFile
from scrapers.pipelines import DuplicateRawFile
from scrapers.snapshots import ManifestEntry, SnapshotError, SnapshotStore

logger = logging.getLogger(__name__)

SNAPSHOT_FLAG = "snapshot"  # Response.flags of a response served from the partial partition (resume)
MAX_FAILURES_LISTED = 200

_SESSIONS: weakref.WeakKeyDictionary[Crawler, SnapshotSession] = weakref.WeakKeyDictionary()


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def session_for(crawler: Crawler) -> SnapshotSession:
    """The crawl's snapshot state, shared by the extension and the resume middleware."""
    session = _SESSIONS.get(crawler)
    if session is None:
        session = _SESSIONS[crawler] = SnapshotSession(crawler)
    return session


class SnapshotSession:
    """What this crawl did to the snapshot store: partitions touched, files used, failures."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        spider = crawler.spider
        assert spider is not None
        self.crawl_id = settings.get("CRAWL_ID") or (
            dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
        )
        # A bounded crawl (-a sample=N) never lands in the real partitions: <source>_sample/ instead.
        self.sample = getattr(spider, "sample", None)
        store_name = spider.name + ("_sample" if self.sample else "")
        self.store = SnapshotStore(settings["RAW_STORE"], store_name, fsync=settings.getbool("SNAPSHOT_FSYNC"))
        self.resume = settings.getbool("SNAPSHOT_RESUME")
        self._resumable: dict[str, dict[str, ManifestEntry]] = {}
        self.used: dict[str, set[str]] = {}
        self.failed: dict[str, list[str]] = {}
        self.crawl_failures: list[str] = []
        self.failures: list[dict] = []
        self.written: list[str] = []
        self.not_written: list[str] = []
        self.files_written = self.files_resumed = self.bytes_saved = 0

    def open_partition(self, partition: str) -> dict[str, ManifestEntry]:
        """Files a killed crawl left for this partition (resume); called before anything is written to it."""
        if partition not in self._resumable:
            self.store.recover(partition)
            if self.resume:
                entries = self.store.resumable_entries(partition)
                if entries:
                    logger.info("%s %s: resuming, %d files already saved", self.store.source, partition, len(entries))
            else:
                self.store.discard_partial(partition)
                entries = {}
            self._resumable[partition] = entries
            self.used.setdefault(partition, set())
        return self._resumable[partition]

    def lookup(self, partition: str, file_name: str) -> ManifestEntry | None:
        return self.open_partition(partition).get(file_name)

    def fail(self, partition: str | None, url: str, reason: str) -> None:
        if partition is None:
            self.crawl_failures.append(reason)
        else:
            self.open_partition(partition)
            self.failed.setdefault(partition, []).append(reason)
        if len(self.failures) < MAX_FAILURES_LISTED:
            self.failures.append({"partition": partition, "url": url, "reason": reason})
        logger.error("failed: %s (%s): %s", partition or "whole crawl", url, reason)


class RawSnapshots:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        crawler.signals.connect(self.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(self.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(self.spider_error, signal=signals.spider_error)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RawSnapshots:
        return cls(crawler)

    @property
    def session(self) -> SnapshotSession:
        return session_for(self.crawler)

    def item_scraped(self, item, response, spider) -> None:
        session = self.session
        if isinstance(item, FetchFailure):
            session.fail(item.partition, item.url, item.reason)
            return
        if not isinstance(item, RawFile):
            return
        session.open_partition(item.partition)
        if item.resumed:
            session.files_resumed += 1
        else:
            try:
                session.store.write(
                    item.partition, item.file_name, item.body, url=item.url, method=item.method,
                    request_body=item.request_body, fetched_at=item.fetched_at, http_status=item.http_status,
                    content_type=item.content_type,
                )
            except (OSError, SnapshotError) as exc:
                session.fail(item.partition, item.url, f"write {item.file_name}: {exc}")
                return
            session.files_written += 1
        session.bytes_saved += len(item.body)
        session.used[item.partition].add(item.file_name)

    def item_dropped(self, item, response, exception, spider) -> None:
        if isinstance(item, RawFile) and not isinstance(exception, DuplicateRawFile):
            self.session.fail(item.partition, item.url, f"invalid file: {exception}")

    def spider_error(self, failure, response, spider) -> None:
        partition = response.meta.get("partition") if response is not None else None
        url = response.url if response is not None else ""
        self.session.fail(partition, url, f"callback error: {failure.getErrorMessage()}")

    def spider_closed(self, spider, reason: str) -> None:
        session = self.session
        complete = reason == "finished" and not session.crawl_failures
        for partition in sorted(session.used):
            if not complete or partition in session.failed or not session.used[partition]:
                session.not_written.append(partition)
                continue
            try:
                self._prune(session, partition)
                session.store.commit(partition)
            except (OSError, SnapshotError) as exc:
                session.fail(partition, "", f"commit: {exc}")
                session.not_written.append(partition)
                continue
            session.written.append(partition)
        if session.not_written:
            logger.error("%s: partitions left partial (%s): %s", session.store.source, reason,
                         ", ".join(session.not_written))
        stats = self.crawler.stats
        stats.set_value("snapshot/partitions_written", list(session.written))
        stats.set_value("snapshot/partitions_failed", list(session.not_written))
        stats.set_value("snapshot/files_written", session.files_written)
        stats.set_value("snapshot/files_resumed", session.files_resumed)
        stats.set_value("snapshot/bytes", session.bytes_saved)
        stats.set_value("snapshot/failures", len(session.crawl_failures) + sum(map(len, session.failed.values())))

    @staticmethod
    def _prune(session: SnapshotSession, partition: str) -> None:
        """Drop files a killed crawl saved that this crawl no longer asked for (e.g. a notice gone from the
        search results): the partition is exactly what this crawl saw."""
        folder = session.store.partial_dir(partition)
        saved = {e.file for e in session.store.read_manifest(partition, partial=True)}
        stale = saved - session.used[partition]
        if not stale:
            return
        for name in stale:
            (folder / name).unlink(missing_ok=True)
        manifest = folder / "manifest.jsonl"
        kept = [e for e in session.store.read_manifest(partition, partial=True) if e.file not in stale]
        tmp = folder / ".manifest.jsonl.tmp"
        tmp.write_text("".join(e.to_json() + "\n" for e in kept), encoding="utf-8")
        os.replace(tmp, manifest)


class CrawlStatsFile:
    """Writes the crawl's stats JSON at close; counts network responses by status and by host."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.started = utc_now()
        # response_downloaded: every response that came over the network, including those the retry middleware
        # turns into a retry (response_received only sees the final one); resumed files never reach it.
        crawler.signals.connect(self.response_downloaded, signal=signals.response_downloaded)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlStatsFile:
        return cls(crawler)

    def response_downloaded(self, response, request, spider) -> None:
        stats = self.crawler.stats
        stats.inc_value(f"network/response_status/{response.status}")
        parts = urlsplit(response.url)
        stats.inc_value(f"network/host/{parts.hostname}:{parts.port or ''}")

    def spider_closed(self, spider, reason: str) -> None:
        session = session_for(self.crawler)
        settings = self.crawler.settings
        raw = self.crawler.stats.get_stats()
        stats = {k: _jsonable(v) for k, v in raw.items()}
        prefix_status, prefix_host = "network/response_status/", "network/host/"
        report = {
            "crawl_id": session.crawl_id,
            "source": spider.name,
            "store": str(session.store.base),
            "finish_reason": reason,
            "started_at": self.started,
            "finished_at": utc_now(),
            "duration_s": raw.get("elapsed_time_seconds"),
            "from_date": str(getattr(spider, "from_date", "")),
            "until_date": str(getattr(spider, "until_date", "")),
            "sample": session.sample,
            "partitions_written": list(session.written),
            "partitions_failed": list(session.not_written),
            "failures": session.failures,
            "crawl_failures": session.crawl_failures,
            "requests": int(raw.get("downloader/request_count", 0)),
            "responses_by_status": {k[len(prefix_status):]: v for k, v in raw.items() if k.startswith(prefix_status)},
            "hosts": {k[len(prefix_host):]: v for k, v in raw.items() if k.startswith(prefix_host)},
            "items": session.files_written + session.files_resumed,
            "files_written": session.files_written,
            "files_resumed": session.files_resumed,
            "bytes": session.bytes_saved,
            "settings": {
                **{name: settings.getbool(name) for name in (
                    "ROBOTSTXT_OBEY", "HTTPPROXY_ENABLED", "AUTOTHROTTLE_ENABLED", "SNAPSHOT_RESUME")},
                **{name: settings.getfloat(name) for name in ("DOWNLOAD_DELAY", "DOWNLOAD_TIMEOUT")},
                **{name: settings.getint(name) for name in (
                    "CONCURRENT_REQUESTS_PER_DOMAIN", "RETRY_TIMES", "DOWNLOAD_MAXSIZE")},
                **{name: settings.get(name) for name in (
                    "USER_AGENT", "DECP_API_URL", "BOAMP_API_URL", "TED_API_URL", "RAW_STORE")},
            },
            "stats": stats,
        }
        path = Path(settings.get("CRAWL_STATS_FILE") or session.store.crawls_dir() / f"{session.crawl_id}.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)


def _jsonable(value):
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)
