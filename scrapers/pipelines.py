"""Item pipelines: validate raw files before the RawSnapshots extension writes them (it listens to item_scraped).

A dropped RawFile marks its partition failed (see extensions.RawSnapshots.item_dropped), except a duplicate:
the same file twice in one crawl is the same response twice, and the first one is kept.
"""

from __future__ import annotations

from scrapy.exceptions import DropItem

from scrapers.items import FetchFailure, RawFile
from scrapers.snapshots import FILE_RE, MANIFEST, PARTITION_RE


class InvalidRawFile(DropItem):
    """A raw file that must not be saved; its partition is not complete."""


class DuplicateRawFile(DropItem):
    """A file already saved by this crawl (not a failure)."""


class ValidateRawFile:
    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    def process_item(self, item):
        if isinstance(item, FetchFailure):
            return item
        if not isinstance(item, RawFile):
            raise InvalidRawFile(f"unexpected item type {type(item).__name__}")
        if not PARTITION_RE.match(item.partition):
            raise InvalidRawFile(f"bad partition {item.partition!r}")
        if not FILE_RE.match(item.file_name) or item.file_name == MANIFEST:
            raise InvalidRawFile(f"bad file name {item.file_name!r}")
        if not isinstance(item.body, bytes) or not item.body:
            raise InvalidRawFile(f"{item.partition}/{item.file_name}: empty body")
        if not 200 <= item.http_status < 300:
            raise InvalidRawFile(f"{item.partition}/{item.file_name}: HTTP {item.http_status}")
        key = (item.partition, item.file_name)
        if key in self.seen:
            raise DuplicateRawFile(f"{item.partition}/{item.file_name}: already saved by this crawl")
        self.seen.add(key)
        return item
