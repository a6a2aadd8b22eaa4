"""Which resource of the DECP data.gouv.fr dataset is the consolidated file of which month.

Shared by the DECP spider (what to download) and the Dagster sensor (when a month has a new file). No Scrapy here:
the sensor runs in the code server, which must not import Twisted.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import urlsplit

RESOURCE_NAME = re.compile(r"^decp-(\d{4})-(\d{2})\.(json|xml)$", re.IGNORECASE)
FORMAT_PREFERENCE = ("json", "xml")


def match(resource: dict) -> tuple[str, str] | None:
    """(month ``YYYY-MM``, format) of a monthly consolidated file, from its title or its URL's file name."""
    url = resource.get("url") or ""
    for name in (str(resource.get("title") or "").strip(), PurePosixPath(urlsplit(url).path).name):
        found = RESOURCE_NAME.match(name)
        if found:
            year, month, fmt = found.groups()
            return f"{year}-{month}", fmt.lower()
    return None


def monthly_files(resources: list, months: set[str] | None = None) -> dict[str, tuple[str, dict]]:
    """The file chosen for each month: JSON before XML, then the most recently modified resource.

    ``{month: (format, resource)}``, restricted to ``months`` when given; resources without a URL are ignored.
    """
    found: dict[str, list[tuple[int, str, dict]]] = {}
    for resource in resources:
        if not isinstance(resource, dict) or not resource.get("url"):
            continue
        matched = match(resource)
        if matched is None or (months is not None and matched[0] not in months):
            continue
        month, fmt = matched
        found.setdefault(month, []).append((FORMAT_PREFERENCE.index(fmt), str(resource.get("last_modified") or ""),
                                            resource))
    chosen = {}
    for month, candidates in found.items():
        candidates.sort(key=lambda c: c[1], reverse=True)
        candidates.sort(key=lambda c: c[0])
        rank, _, resource = candidates[0]
        chosen[month] = (FORMAT_PREFERENCE[rank], resource)
    return chosen
