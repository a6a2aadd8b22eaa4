"""TED notices of French buyers (Search API v3) and their eForms XML.

Domain
  Tenders Electronic Daily, EU Publications Office; reuse free (Commission Decision 2011/833/EU)
API documentation
  https://docs.ted.europa.eu/api/latest/search.html (POST /v3/notices/search, anonymous)
Partition
  publication day; files ``search-<page:04d>.json`` (one per ITERATION page, exactly as returned) and
  ``notice-<publication-number>.xml`` (the ``links.xml.MUL`` of each notice).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from scrapy.http import Request, Response

from scrapers.base import PeriodicSpider


class TedSpider(PeriodicSpider):
    name = "ted"
    api_url_setting = "TED_API_URL"
    custom_settings = {
        # api.ted.europa.eu is the Publications Office's documented reuse API, and the notice XML links are the
        # ones that API returns for reuse; we follow the published usage thresholds (sources.md §2.3: 1 request at
        # a time, delay, Retry-After) rather than a website robots.txt written for the HTML portal. [verify live]
        "ROBOTSTXT_OBEY": False,
    }
    query_template = "buyer-country IN (FRA) AND publication-date={yyyymmdd}"
    # Field aliases seen in real requests/responses (sources.md §2.1); unknown aliases make the API answer 400.
    fields = [
        "publication-number", "publication-date", "notice-type", "form-type", "notice-title", "buyer-name",
        "buyer-country", "classification-cpv", "procedure-type", "contract-nature", "links",
    ]
    page_size = 250  # TED maximum
    max_pages = 400  # 100 000 notices a day: far beyond any real day, stops a token loop

    def search_url(self) -> str:
        return f"{self.api_url}/notices/search"

    def search_body(self, partition: str, token: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "query": self.query_template.format(yyyymmdd=partition.replace("-", "")),
            "fields": list(self.fields),
            "limit": self.page_size,
            "paginationMode": "ITERATION",
        }
        if token:
            body["iterationNextToken"] = token  # resent exactly as received
        return body

    def search_request(self, partition: str, index: int, page: int, token: str | None,
                       seen: dict) -> Request | None:
        # Search pages are always refetched (resumable=False): an iteration token is a server-side cursor.
        return self.build_request(
            self.search_url(), partition=partition, file_name=f"search-{page:04d}.json",
            callback=self.parse_search, expect="json", data=self.search_body(partition, token), resumable=False,
            priority=self.priority(index, 0) + 1,
            meta={"page": page, "index": index, "seen": seen},
        )

    def partition_requests(self, partition: str, index: int) -> Iterable[Request | None]:
        yield self.search_request(partition, index, 1, None, {"tokens": set(), "notices": set()})

    # Search pages go before notices (a token is a server-side cursor: follow it while it is fresh); notices are
    # fetched in result order, so a killed crawl has saved a prefix of them.

    def parse_search(self, response: Response) -> Iterator[Any]:
        data = self.load_json(response)
        meta = response.meta
        partition, page, index, seen = meta["partition"], meta["page"], meta["index"], meta["seen"]
        notices = data.get("notices") if isinstance(data, dict) else None
        if not isinstance(notices, list):
            yield from self.retry_or_fail(response, "not a TED search page (no notices list)")
            return
        if data.get("timedOut"):
            yield from self.retry_or_fail(response, "TED search timedOut (partial page)")
            return
        yield self.raw_file(response)
        token = data.get("iterationNextToken")
        if token and notices:
            if token in seen["tokens"] or page >= self.max_pages:
                yield self.failure_item(response.request, f"iteration token loop at page {page}")
            else:
                seen["tokens"].add(token)
                request = self.search_request(partition, index, page + 1, token, seen)
                if request is not None:
                    yield request
        for notice in notices:
            number = notice.get("publication-number") if isinstance(notice, dict) else None
            link = ((notice.get("links") or {}).get("xml") or {}).get("MUL") if isinstance(notice, dict) else None
            if isinstance(number, list):
                number = number[0] if number else None
            if not number or not isinstance(link, str):
                self.crawler.stats.inc_value("ted/notices_without_xml_link")
                self.logger.warning("%s: notice %r has no links.xml.MUL", partition, number)
                continue
            if number in seen["notices"]:
                continue  # the same notice twice in the results (seen in real responses)
            seen["notices"].add(number)
            request = self.build_request(
                link, partition=partition, file_name=f"notice-{re.sub(r'[^A-Za-z0-9._-]', '_', str(number))}.xml",
                callback=self.parse_notice, expect="xml", priority=self.priority(index, len(seen["notices"])),
            )
            if request is not None:
                yield request

    def parse_notice(self, response: Response) -> Iterator[Any]:
        yield self.raw_file(response)
