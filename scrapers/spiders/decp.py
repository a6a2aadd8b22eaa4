"""DECP consolidated monthly files from data.gouv.fr.

Domain
  Données essentielles de la commande publique – fichiers consolidés (MINEF), Licence Ouverte / Etalab 2.0
API documentation
  https://guides.data.gouv.fr/ (API v1: GET /api/1/datasets/{id}/ lists the dataset's resources)
Partition
  month; file ``decp-YYYY-MM.json`` (or ``.xml`` when only XML is published for that month). Yearly files and
  other resources are not fetched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from scrapy.http import Request, Response

from scrapers.base import PeriodicSpider
from scrapers.decp_resources import monthly_files
from scrapers.items import FetchFailure


class DecpSpider(PeriodicSpider):
    name = "decp"
    api_url_setting = "DECP_API_URL"
    partition_kind = "month"
    # robots.txt is obeyed (global ROBOTSTXT_OBEY=True): data.gouv.fr's robots.txt disallows the resource
    # redirector /api/1/datasets/r/ but not the metadata API [3rd-party note, verify]; the listed resource URLs
    # point at static.data.gouv.fr. A URL robots.txt forbids is a failure of its month, never skipped silently.

    async def start(self) -> AsyncIterator[Request]:
        dataset = self.settings.get("DECP_DATASET_ID")
        request = self.build_request(
            f"{self.api_url}/datasets/{dataset}/", partition=None, file_name=None, callback=self.parse_dataset,
            expect="json",
        )
        if request is not None:
            yield request

    def parse_dataset(self, response: Response) -> Iterator[Any]:
        data = self.load_json(response)
        resources = data.get("resources") if isinstance(data, dict) else None
        if not isinstance(resources, list):
            yield from self.retry_or_fail(response, "not a data.gouv.fr dataset (no resources list)")
            return
        wanted = self.partitions()
        found = monthly_files(resources, set(wanted))
        max_bytes = self.settings.getint("DECP_MAX_FILE_BYTES")
        for index, month in enumerate(wanted):
            if month not in found:
                # Not published yet (the schedule ran before data.gouv.fr had it) or never: the month fails, so
                # the partition is not marked done and a later run fetches it; nothing empty gets published.
                missing = self.crawler.stats.get_value("decp/months_without_file", [])
                self.crawler.stats.set_value("decp/months_without_file", [*missing, month])
                yield FetchFailure(source=self.name, partition=month, url=response.url, file_name=None,
                                   reason=f"no decp-{month}.json/.xml resource published in the dataset yet")
                continue
            fmt, resource = found[month]
            url = resource["url"]
            size = resource.get("filesize")
            if isinstance(size, int) and size > max_bytes:
                yield self.failure_item(
                    Request(url, meta={"partition": month}),
                    f"resource of {size} bytes larger than DECP_MAX_FILE_BYTES={max_bytes}",
                )
                continue
            request = self.build_request(
                url, partition=month, file_name=f"decp-{month}.{fmt}", callback=self.parse_file, expect=fmt,
                priority=self.priority(index),
                meta={"download_maxsize": max_bytes, "download_timeout": self.settings.getint("DECP_FILE_TIMEOUT")},
            )
            if request is not None:
                yield request

    def parse_file(self, response: Response) -> Iterator[Any]:
        yield self.raw_file(response)
