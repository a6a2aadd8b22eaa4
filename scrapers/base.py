"""Base spiders: behaviour lives here, configured by class attributes; source spiders stay small.

``RawSpider`` (arguments, request building, raw-file items, failures), ``PeriodicSpider`` (one partition per day
or month of the window), ``OdsRecordsSpider`` (Opendatasoft Explore v2.1 ``/records`` paging by day with the
10 000-record window guard). Spiders only yield requests and items (kingfisher-collect's rule); files are written
by extensions.RawSnapshots, retries and waits are done by the middlewares.

Spider arguments (``-a``): ``from_date``, ``until_date`` (YYYY-MM-DD, inclusive; default: yesterday, Europe/Paris)
and ``sample`` (at most that many files; the crawl then writes to ``<source>_sample/``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import scrapy
from scrapy.http import JsonRequest, Request, Response
from scrapy.spidermiddlewares.httperror import HttpError

from scrapers.extensions import SNAPSHOT_FLAG, utc_now
from scrapers.items import FetchFailure, RawFile
from scrapers.middlewares import retry_from_callback

PARIS = ZoneInfo("Europe/Paris")
MAX_WINDOW_DAYS = 3660


def parse_date(value: str | dt.date | None, name: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"argument {name}={value!r}: date YYYY-MM-DD expected") from None


class RawSpider(scrapy.Spider):
    """Common arguments and helpers. Class attributes:

    * ``api_url_setting``: name of the setting holding the source's base URL (read into ``self.api_url``);
    * ``partition_kind``: ``"day"`` (YYYY-MM-DD) or ``"month"`` (YYYY-MM).
    """

    api_url_setting: str = ""
    partition_kind: str = "day"

    def __init__(self, from_date: str | None = None, until_date: str | None = None, sample: str | None = None,
                 *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        yesterday = dt.datetime.now(PARIS).date() - dt.timedelta(days=1)
        until = parse_date(until_date, "until_date")
        start = parse_date(from_date, "from_date")
        self.until_date = until or (start if start and start > yesterday else yesterday)
        self.from_date = start or self.until_date
        if self.from_date > self.until_date:
            raise ValueError(f"from_date {self.from_date} is after until_date {self.until_date}")
        if (self.until_date - self.from_date).days > MAX_WINDOW_DAYS:
            raise ValueError(f"window {self.from_date}..{self.until_date} longer than {MAX_WINDOW_DAYS} days")
        try:
            self.sample = int(sample) if sample not in (None, "", "0") else None
        except ValueError:
            raise ValueError(f"argument sample={sample!r}: positive integer expected") from None
        if self.sample is not None and self.sample < 1:
            raise ValueError(f"argument sample={sample!r}: positive integer expected")
        self._planned_files = 0

    @classmethod
    def from_crawler(cls, crawler, *args: Any, **kwargs: Any):
        spider = super().from_crawler(crawler, *args, **kwargs)
        url = crawler.settings.get(cls.api_url_setting) if cls.api_url_setting else ""
        if cls.api_url_setting and not url:
            raise ValueError(f"setting {cls.api_url_setting} is empty")
        spider.api_url = (url or "").rstrip("/")
        if "example.org" in crawler.settings.get("USER_AGENT", ""):
            spider.logger.warning("USER_AGENT has no real contact: set SCRAPERS_CONTACT_URL before crawling live")
        return spider

    # ------------------------------------------------------------------ window
    def partitions(self) -> list[str]:
        """Partition keys of the window, oldest first."""
        if self.partition_kind == "month":
            keys, year, month = [], self.from_date.year, self.from_date.month
            while (year, month) <= (self.until_date.year, self.until_date.month):
                keys.append(f"{year:04d}-{month:02d}")
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)
            return keys
        days = (self.until_date - self.from_date).days
        return [(self.from_date + dt.timedelta(days=i)).isoformat() for i in range(days + 1)]

    # ------------------------------------------------------------------ requests
    def build_request(self, url: str, *, partition: str | None, file_name: str | None, callback,
                      expect: str | None, data: dict | None = None, resumable: bool = True, priority: int = 0,
                      meta: dict | None = None, counts: bool = True) -> Request | None:
        """A request whose response is saved as ``<partition>/<file_name>`` (None: not saved, e.g. a listing).

        ``expect`` (json, jsonl, xml) makes the retry middleware check the body; ``data`` makes a JSON POST;
        ``resumable=False`` refetches even if a killed crawl saved the file. Returns None once ``sample`` files
        are planned, so a sample crawl stays bounded.
        """
        if counts and file_name is not None:
            if self.sample is not None and self._planned_files >= self.sample:
                return None
            self._planned_files += 1
        full_meta = {"partition": partition, "file_name": file_name, "expect": expect, "resumable": resumable}
        full_meta.update(meta or {})
        kwargs = {"callback": callback, "errback": self.on_error, "meta": full_meta, "priority": priority}
        if data is not None:
            return JsonRequest(url, data=data, **kwargs)
        return Request(url, **kwargs)

    # ------------------------------------------------------------------ items
    def raw_file(self, response: Response) -> RawFile:
        request = response.request
        body_sent = None
        if request is not None and request.method != "GET" and request.body:
            body_sent = request.body.decode("utf-8", errors="replace")
        content_type = response.headers.get(b"Content-Type")
        return RawFile(
            source=self.name, partition=response.meta["partition"], file_name=response.meta["file_name"],
            url=response.url, method=request.method if request is not None else "GET",
            http_status=response.status, body=response.body, fetched_at=utc_now(), request_body=body_sent,
            content_type=content_type.decode("latin-1") if content_type else None,
            resumed=SNAPSHOT_FLAG in response.flags,
        )

    def failure_item(self, request: Request, reason: str) -> FetchFailure:
        return FetchFailure(source=self.name, partition=request.meta.get("partition"), url=request.url,
                            reason=reason, file_name=request.meta.get("file_name"))

    def on_error(self, failure) -> Iterator[FetchFailure]:
        """Errback of every request: the request finally failed, its partition is incomplete."""
        request = failure.request
        if failure.check(HttpError):
            reason = f"HTTP {failure.value.response.status}"
        else:
            reason = f"{failure.type.__name__}: {failure.getErrorMessage()}"
        self.crawler.stats.inc_value("failures/requests")
        yield self.failure_item(request, reason)

    def retry_or_fail(self, response: Response, reason: str) -> Iterator[Request | FetchFailure]:
        """A well-formed page that cannot be used as is: retried with backoff, then a failure."""
        retry = retry_from_callback(self, response, reason)
        yield retry if retry is not None else self.failure_item(response.request, f"{reason}; retries exhausted")

    @staticmethod
    def load_json(response: Response) -> Any:
        return json.loads(response.body)


class PeriodicSpider(RawSpider):
    """One partition per day (or month) of the window; subclasses implement ``partition_requests``."""

    async def start(self) -> AsyncIterator[Request]:
        for index, partition in enumerate(self.partitions()):
            for request in self.partition_requests(partition, index):
                if request is not None:
                    yield request

    def partition_requests(self, partition: str, index: int) -> Iterable[Request | None]:
        raise NotImplementedError

    @staticmethod
    def priority(index: int, step: int = 0) -> int:
        """Older partitions first, and within one partition its pages in order: a killed crawl leaves few
        partial partitions, and a partial one is missing its last pages only."""
        return -(index * 100_000) - step


class OdsRecordsSpider(PeriodicSpider):
    """Opendatasoft Explore API v2.1 dataset, one partition per value of a date field.

    ``GET {api}/records?where=<date_field>=date'YYYY-MM-DD'&order_by=<order_by>&limit=<page_size>&offset=0``;
    ``total_count`` of that first page fans out the other offsets. ODS refuses ``offset + limit > 10 000``
    (HTTP 400), so a day with more records is fetched whole from ``{api}/exports/jsonl`` (no cap) instead.
    Files: ``records-<offset:010d>.json`` per page, or ``export.jsonl``.
    """

    date_field = "dateparution"
    order_by = "idweb"
    page_size = 100  # ODS maximum for /records
    max_window = 10_000  # ODS: offset + limit <= 10 000
    count_key = "total_count"
    results_key = "results"

    def where(self, partition: str) -> str:
        return f"{self.date_field}=date'{partition}'"

    def query(self, partition: str, **params: Any) -> str:
        return urlencode({"where": self.where(partition), "order_by": self.order_by, **params}, quote_via=quote)

    def page_request(self, partition: str, index: int, offset: int, total: int | None = None) -> Request | None:
        url = f"{self.api_url}/records?{self.query(partition, limit=self.page_size, offset=offset)}"
        if offset + self.page_size > self.max_window:  # never ask what ODS answers with a 400
            raise ValueError(f"offset {offset} beyond the ODS window")
        return self.build_request(
            url, partition=partition, file_name=f"records-{offset:010d}.json", callback=self.parse_page,
            expect="json", priority=self.priority(index, offset // self.page_size),
            meta={"offset": offset, "index": index, "total": total},
        )

    def partition_requests(self, partition: str, index: int) -> Iterable[Request | None]:
        yield self.page_request(partition, index, 0)

    def parse_page(self, response: Response) -> Iterator[Any]:
        data = self.load_json(response)
        meta = response.meta
        partition, offset, index = meta["partition"], meta["offset"], meta["index"]
        total = data.get(self.count_key) if isinstance(data, dict) else None
        results = data.get(self.results_key) if isinstance(data, dict) else None
        if not isinstance(total, int) or not isinstance(results, list):
            yield from self.retry_or_fail(response, f"not an ODS records page (no {self.count_key}/{self.results_key})")
            return
        if offset == 0 and total > self.max_window:
            # Not saved: the export holds every record of the day, page 0 would duplicate 100 of them.
            self.logger.warning("%s: %d records > %d, fetching %s/exports/jsonl instead of paging",
                                partition, total, self.max_window, self.api_url)
            self.crawler.stats.inc_value("ods/export_fallback_days")
            yield self.build_request(
                f"{self.api_url}/exports/jsonl?{self.query(partition)}", partition=partition,
                file_name="export.jsonl", callback=self.parse_export, expect="jsonl",
                priority=self.priority(index), meta={"total": total, "index": index},
            )
            return
        first_total = meta.get("total")
        if first_total is not None and total != first_total:
            # Records were published while paging: the offsets no longer line up, so the day is incomplete.
            # It fails (not committed) and the next run crawls it again.
            self.crawler.stats.inc_value("ods/total_count_changed")
            yield self.failure_item(response.request, f"total_count changed from {first_total} to {total} while "
                                                      "paging")
            return
        expected = max(0, min(self.page_size, total - offset))
        if len(results) != expected:
            self.crawler.stats.inc_value("ods/page_size_mismatch")
            yield from self.retry_or_fail(response, f"{len(results)} records at offset {offset}, {expected} expected")
            return
        yield self.raw_file(response)
        if offset == 0:
            for next_offset in range(self.page_size, total, self.page_size):
                request = self.page_request(partition, index, next_offset, total)
                if request is not None:
                    yield request

    def parse_export(self, response: Response) -> Iterator[Any]:
        count = sum(1 for line in response.body.splitlines() if line.strip())
        expected = response.meta["total"]
        if count < expected:
            yield from self.retry_or_fail(response, f"export has {count} records, total_count said {expected}")
            return
        yield self.raw_file(response)
