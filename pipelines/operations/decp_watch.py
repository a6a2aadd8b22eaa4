"""Which DECP months have a new consolidated file on data.gouv.fr since the sensor last looked.

The sensor keeps, as its cursor, the fingerprint of the file it last saw for each month. A month is started when
its file is new to the sensor and the month has never been collected, or when the file changed (data.gouv.fr
republishes a month when corrections arrive); the same file seen twice starts nothing.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from scrapers.decp_resources import monthly_files

# The dataset's metadata lists a few hundred resources (~1 MB); anything far larger is not that listing.
MAX_LISTING_BYTES = 16 * 1024**2


class ListingUnavailable(Exception):
    """The dataset's listing could not be read; the sensor skips this tick and keeps its cursor."""


@dataclass(frozen=True)
class NewFile:
    month: str  # YYYY-MM
    format: str
    url: str
    fingerprint: str
    replaced: bool  # the month had another file before (a republication), not a first sight


def fetch_resources(api_url: str, dataset_id: str, timeout_s: float = 30.0,
                    max_bytes: int = MAX_LISTING_BYTES) -> list:
    """The ``resources`` list of the dataset, read from the data.gouv.fr API v1 (bounded size)."""
    url = f"{api_url.rstrip('/')}/datasets/{dataset_id}/"
    request = urllib.request.Request(url, headers={"Accept": "application/json",
                                                   "User-Agent": "achats-innovants-sensor"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read(max_bytes + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ListingUnavailable(f"{url} : {exc}") from exc
    if len(body) > max_bytes:
        raise ListingUnavailable(f"{url} : réponse de plus de {max_bytes} octets, ignorée")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ListingUnavailable(f"{url} : réponse qui n'est pas du JSON ({exc})") from exc
    resources = data.get("resources") if isinstance(data, dict) else None
    if not isinstance(resources, list):
        raise ListingUnavailable(f"{url} : pas de liste « resources » (ce n'est pas un jeu de données data.gouv.fr)")
    return resources


def fingerprint(resource: dict) -> str:
    """What identifies one published version of a file: its id, URL, checksum, size and modification date."""
    checksum = resource.get("checksum")
    checksum = checksum.get("value") if isinstance(checksum, dict) else checksum
    parts = [resource.get(k) for k in ("id", "url", "filesize", "last_modified")] + [checksum]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def load_cursor(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    try:
        seen = json.loads(cursor)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in seen.items()} if isinstance(seen, dict) else {}


def dump_cursor(seen: dict[str, str]) -> str:
    return json.dumps(dict(sorted(seen.items())), separators=(",", ":"))


def new_files(resources: list, seen: dict[str, str], months: set[str],
              collected: set[str]) -> tuple[list[NewFile], dict[str, str]]:
    """Files to collect and the next cursor.

    ``months``: the partitions that exist (complete months from the start date); a file for a month outside them is
    not remembered, so it is started once its month becomes a partition. ``collected``: months already
    materialised, not started again on first sight (a fresh sensor on a running deployment does not re-crawl).
    """
    found, cursor = [], dict(seen)
    for month, (fmt, resource) in sorted(monthly_files(resources, months).items()):
        current = fingerprint(resource)
        if seen.get(month) == current:
            continue
        cursor[month] = current
        replaced = month in seen
        if replaced or month not in collected:
            found.append(NewFile(month, fmt, resource["url"], current, replaced))
    return found, cursor
