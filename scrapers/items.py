"""Items: a raw file (the exact bytes of one response) or a fetch failure. Spiders yield nothing else."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RawFile:
    """One response body, to be saved as ``<source>/<partition>/<file_name>``."""

    source: str
    partition: str
    file_name: str
    url: str
    method: str
    http_status: int
    body: bytes
    fetched_at: str  # ISO 8601, UTC
    request_body: str | None = None  # POST bodies, exactly as sent
    content_type: str | None = None
    resumed: bool = False  # already saved by a killed crawl in the partial partition (not written again)

    def __repr__(self) -> str:  # never log the body
        return f"RawFile({self.source}/{self.partition}/{self.file_name}, {len(self.body)} bytes)"


@dataclass
class FetchFailure:
    """A request that finally failed (retries exhausted, HTTP error, invalid body…): its partition is incomplete."""

    source: str
    partition: str | None  # None: a request every partition depends on (e.g. the DECP resource listing)
    url: str
    reason: str
    file_name: str | None = None
