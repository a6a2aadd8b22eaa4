"""Downloader middlewares: resume from a partial partition, retries with backoff and Retry-After, body checks.

Order (settings.DOWNLOADER_MIDDLEWARES): SnapshotResumeMiddleware (50) answers from disk what a killed crawl
already saved; BackoffWaitMiddleware (60) sleeps before a retried request and while a host is paused after a 429;
BackoffRetryMiddleware (550, in place of Scrapy's RetryMiddleware) decides what to retry and how long to wait.
Scrapy does not honour Retry-After by itself (scrapy#3849); kingfisher-collect does the same with a
``wait_time`` meta key consumed by a delaying middleware.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import io
import json
import time
import weakref

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Response
from scrapy.utils.asyncio import sleep
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.response import response_status_message

from scrapers.extensions import SNAPSHOT_FLAG, session_for

# Bodies larger than this are checked by a streaming parser (ijson / lxml iterparse) instead of json.loads.
STREAMING_CHECK_BYTES = 16 * 1024**2

_PAUSES: weakref.WeakKeyDictionary[Crawler, dict[str, float]] = weakref.WeakKeyDictionary()


def host_pauses(crawler: Crawler) -> dict[str, float]:
    """host → time.monotonic() before which no request goes to that host (set after a 429 with Retry-After)."""
    return _PAUSES.setdefault(crawler, {})


class InvalidBody(IgnoreRequest):
    """A 2xx response whose body is unusable (empty WAF 202, truncated JSON…), still so after every retry."""


def parse_retry_after(value: bytes | str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None when absent or unreadable."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    now = now or dt.datetime.now(dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def body_problem(expect: str | None, response: Response) -> str | None:
    """Why a 2xx body cannot be saved as good, or None. ``expect``: json, jsonl, xml or None (any non-empty)."""
    if response.headers.get(b"x-amzn-waf-action"):
        return "WAF challenge (x-amzn-waf-action)"
    body = response.body
    if response.status == 202 and not body.strip():
        return "HTTP 202 with an empty body (WAF)"
    if expect is None:
        return None
    if not body.strip():
        return "empty body"
    try:
        if expect == "json":
            _check_json(body)
        elif expect == "jsonl":
            for number, line in enumerate(body.splitlines(), 1):
                if line.strip():
                    try:
                        json.loads(line)
                    except ValueError as exc:
                        raise ValueError(f"line {number}: {exc}") from None
        elif expect == "xml":
            _check_xml(body)
    except Exception as exc:  # noqa: BLE001 - any parser error means an unusable body
        return f"invalid {expect.upper()}: {str(exc)[:200]}"
    return None


def _check_json(body: bytes) -> None:
    if len(body) <= STREAMING_CHECK_BYTES:
        json.loads(body)
        return
    import ijson

    for _ in ijson.parse(io.BytesIO(body)):
        pass


def _check_xml(body: bytes) -> None:
    from lxml import etree

    for _, element in etree.iterparse(io.BytesIO(body), events=("end",), resolve_entities=False,
                                      no_network=True, load_dtd=False, huge_tree=True):
        element.clear()


class SnapshotResumeMiddleware:
    """Answer a request from the partial partition when a killed crawl already saved its file.

    Only requests that carry ``partition``/``file_name`` meta and ``resumable`` (the default) are concerned:
    TED search pages set ``resumable=False`` (iteration tokens are replayed) while their notices are resumed.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SnapshotResumeMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> Response | None:
        partition, file_name = request.meta.get("partition"), request.meta.get("file_name")
        if not partition or not file_name:
            return None
        session = session_for(self.crawler)
        entry = session.lookup(partition, file_name)
        if entry is None or not request.meta.get("resumable", True):
            return None
        self.crawler.stats.inc_value("snapshot/resumed_responses")
        headers = {"Content-Type": entry.content_type} if entry.content_type else {}
        return Response(request.url, status=entry.http_status, headers=headers,
                        body=session.store.read_partial(partition, file_name), flags=[SNAPSHOT_FLAG],
                        request=request)


class BackoffWaitMiddleware:
    """Sleep the wait a retried request carries (``backoff_wait`` meta) and while its host is paused."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffWaitMiddleware:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        wait = float(request.meta.pop("backoff_wait", 0) or 0)
        host = urlparse_cached(request).netloc
        paused_until = host_pauses(self.crawler).get(host, 0.0)
        wait = max(wait, paused_until - time.monotonic())
        if wait > 0:
            self.crawler.stats.inc_value("retry/waits")
            self.crawler.stats.inc_value("retry/wait_seconds", round(wait, 3))
            await sleep(wait)


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries (RETRY_TIMES, RETRY_HTTP_CODES, RETRY_EXCEPTIONS) plus:

    * exponential backoff: the n-th retry waits ``RETRY_BACKOFF_BASE * 2**(n-1)`` s, at most ``RETRY_BACKOFF_MAX``;
    * 429/503 with ``Retry-After``: that wait (capped at ``RETRY_AFTER_MAX``), and the host is paused meanwhile;
    * a 2xx that is a WAF answer (TED: 202 with an empty body) or whose body does not parse as the request's
      ``expect`` meta (json, jsonl, xml) is retried, then raises InvalidBody (the request's errback records the
      failure): it is never saved as good.
    """

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.backoff_base = settings.getfloat("RETRY_BACKOFF_BASE", 2.0)
        self.backoff_max = settings.getfloat("RETRY_BACKOFF_MAX", 120.0)
        self.retry_after_max = settings.getfloat("RETRY_AFTER_MAX", 600.0)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("dont_retry", False) or SNAPSHOT_FLAG in response.flags:
            return response
        status = response.status
        if status in self.retry_http_codes:
            wait = None
            if status in (429, 503):
                retry_after = parse_retry_after(response.headers.get(b"Retry-After"))
                if retry_after is not None:
                    wait = min(retry_after, self.retry_after_max)
                    pauses = host_pauses(self.crawler)
                    host = urlparse_cached(request).netloc
                    pauses[host] = max(pauses.get(host, 0.0), time.monotonic() + wait)
                    self.crawler.stats.inc_value("retry/retry_after_honoured")
            return self.retry_with_backoff(request, response_status_message(status), wait) or response
        if 200 <= status < 300:
            problem = body_problem(request.meta.get("expect"), response)
            if problem:
                retry = self.retry_with_backoff(request, problem)
                if retry is not None:
                    return retry
                self.crawler.stats.inc_value("retry/invalid_body_given_up")
                raise InvalidBody(f"{problem}; retries exhausted")
        return response

    def process_exception(self, request: Request, exception: Exception) -> Request | None:
        if isinstance(exception, self.exceptions_to_retry) and not request.meta.get("dont_retry", False):
            return self.retry_with_backoff(request, exception)
        return None

    def retry_with_backoff(self, request: Request, reason, wait: float | None = None) -> Request | None:
        retry = self._retry(request, reason)
        if retry is None:
            return None
        if wait is None:
            attempt = int(retry.meta.get("retry_times", 1))
            wait = min(self.backoff_base * 2 ** (attempt - 1), self.backoff_max)
        retry.meta["backoff_wait"] = wait
        return retry


def retry_from_callback(spider, response: Response, reason: str) -> Request | None:
    """For a spider callback that finds a well-formed but unusable page (e.g. TED ``timedOut``): a retry
    request with the same backoff, or None when retries are exhausted."""
    try:
        middleware = BackoffRetryMiddleware.from_crawler(spider.crawler)
    except NotConfigured:
        return None
    retry = middleware.retry_with_backoff(response.request, reason)
    if retry is not None:  # what the downloader wrote into the meta of the first attempt is not the retry's
        for key in ("download_latency", "redirect_times", "redirect_ttl", "redirect_urls", "redirect_reasons"):
            retry.meta.pop(key, None)
    return retry
