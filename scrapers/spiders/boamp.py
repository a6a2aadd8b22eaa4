"""BOAMP notices from the DILA Opendatasoft portal (Explore API v2.1, dataset ``boamp``).

Domain
  Bulletin officiel des annonces des marchés publics (DILA), Licence Ouverte / Etalab 2.0
API documentation
  https://boamp-datadila.opendatasoft.com/explore/dataset/boamp/api/
Partition
  publication day (``dateparution``), files ``records-<offset>.json`` (100 records each, ``order_by=idweb``)
  or ``export.jsonl`` when the day has more than 10 000 notices.
"""

from __future__ import annotations

from scrapers.base import OdsRecordsSpider


class BoampSpider(OdsRecordsSpider):
    name = "boamp"
    api_url_setting = "BOAMP_API_URL"
    date_field = "dateparution"
    order_by = "idweb"
    custom_settings = {
        # The Opendatasoft portal serves a stock robots.txt with "Disallow: /api/" (sources.md §1.1), yet /api/ is
        # the official open-data API DILA publishes for reuse (Licence Ouverte, no key). Obeying it would forbid
        # the only sanctioned access; politeness comes from the global settings instead (1 request at a time,
        # DOWNLOAD_DELAY + AutoThrottle, 429 Retry-After honoured, identifying User-Agent).
        "ROBOTSTXT_OBEY": False,
    }
