"""Scrapy settings of the live collection.

Every value that differs from Scrapy's default says so in a comment (``# default X``), as in kingfisher-collect.
Values a deployment changes are read from environment variables of the same name, and any setting can be
overridden per crawl with ``-s NAME=value`` (``scrapers.crawl.run_crawl(settings=...)`` does that); the tests use
it to point the spiders at a local replay server and to shrink every delay.
Docs: https://docs.scrapy.org/en/latest/topics/settings.html
"""

from __future__ import annotations

import os
from pathlib import Path

from scrapers import __version__

BOT_NAME = "achats_innovants"
SPIDER_MODULES = ["scrapers.spiders"]
NEWSPIDER_MODULE = "scrapers.spiders"

# --- Sources (DESIGN §2): base URLs come from configuration so tests and the offline demo use a local server.
DECP_API_URL = os.environ.get("DECP_API_URL", "https://www.data.gouv.fr/api/1")
# "Données essentielles de la commande publique – fichiers consolidés" (monthly decp-YYYY-MM.json, yearly files).
DECP_DATASET_ID = os.environ.get("DECP_DATASET_ID", "5cd57bf68b4c4179299eb0e9")
# Largest DECP resource downloaded (monthly files are tens of MB; yearly ones hundreds and are not fetched).
DECP_MAX_FILE_BYTES = int(os.environ.get("DECP_MAX_FILE_BYTES", str(512 * 1024**2)))
BOAMP_API_URL = os.environ.get(
    "BOAMP_API_URL", "https://boamp-datadila.opendatasoft.com/api/explore/v2.1/catalog/datasets/boamp"
)
TED_API_URL = os.environ.get("TED_API_URL", "https://api.ted.europa.eu/v3")

# --- Raw snapshots (scrapers/snapshots.py): <RAW_STORE>/<source>/<partition>/ + manifest.jsonl.
# RAW_STORE, else ACHATS_RAW_DIR (the variable the Dagster resource reads), else data/raw/ at the repository root.
RAW_STORE = (os.environ.get("RAW_STORE") or os.environ.get("ACHATS_RAW_DIR")
             or str(Path(__file__).resolve().parents[1] / "data" / "raw"))
# A crawl re-uses the files a killed crawl left in <source>/.<partition>.partial/ (False: start the partition afresh).
SNAPSHOT_RESUME = True
# fsync each raw file and manifest line: a killed or crashed crawl never leaves a manifest line without its file.
SNAPSHOT_FSYNC = True
# Identifier of this crawl (stats file name); scrapers.crawl passes one, otherwise a timestamp is used.
CRAWL_ID = ""
# Where the crawl writes its stats JSON at close ("": <RAW_STORE>/<source>/_crawls/<CRAWL_ID>.json).
CRAWL_STATS_FILE = ""

# --- Identity and politeness.
# Contact for the source operators: set SCRAPERS_CONTACT_URL to the project's page or a mailto: link.
# (the placeholder below makes every spider log a warning at start).
CONTACT_URL = os.environ.get("SCRAPERS_CONTACT_URL", "https://example.org/achats-innovants")
# default "Scrapy/VERSION (+https://scrapy.org)"
USER_AGENT = f"achats-innovants/{__version__} (Observatoire des achats innovants; +{CONTACT_URL})"
# robots.txt is obeyed unless a spider opts out in its custom_settings with the reason written there
# (BOAMP: the Opendatasoft stock robots.txt disallows /api/, the official open API; TED: documented reuse API).
ROBOTSTXT_OBEY = True  # default False (project template: True)
CONCURRENT_REQUESTS_PER_DOMAIN = 1  # default 8 (template 1); TED blocks bursts (sources.md §2.3)
# Few requests in flight overall: a 429 pause (middlewares.BackoffRetryMiddleware) holds back what is not yet queued.
CONCURRENT_REQUESTS = 4  # default 16
DOWNLOAD_DELAY = 1.0  # default 0 (template 1); the floor AutoThrottle never goes below
AUTOTHROTTLE_ENABLED = True  # default False
AUTOTHROTTLE_START_DELAY = 1.0  # default 5.0
AUTOTHROTTLE_MAX_DELAY = 30.0  # default 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0  # default 1.0 (kept: one request at a time per host)
COOKIES_ENABLED = False  # default True; open APIs, no session
TELNETCONSOLE_ENABLED = False  # default True; no listening port in a batch job
REMOTE_CONTROL_ENABLED = False  # default True (Scrapy 2.19 code-execution HTTP endpoint); same reason
LOG_LEVEL = "INFO"  # default DEBUG (one line per request is too much for daily crawls)

# --- Robustness.
DOWNLOAD_TIMEOUT = 180  # default 180 (kept); DECP file downloads get DECP_FILE_TIMEOUT through request meta
DECP_FILE_TIMEOUT = 900
DOWNLOAD_MAXSIZE = 512 * 1024**2  # default 1 GiB; larger bodies are aborted and counted as failures
DOWNLOAD_WARNSIZE = 64 * 1024**2  # default 32 MiB (an ODS day export or a DECP month is legitimately tens of MB)
DOWNLOAD_FAIL_ON_DATALOSS = True  # default True (kept: a body shorter than Content-Length is an error, retried)
RETRY_ENABLED = True  # default True
RETRY_TIMES = 5  # default 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]  # default (kept); 429 waits Retry-After
# Exponential backoff between retries: RETRY_BACKOFF_BASE * 2**(n-1) seconds, at most RETRY_BACKOFF_MAX (not Scrapy).
RETRY_BACKOFF_BASE = 2.0
RETRY_BACKOFF_MAX = 120.0
# Retry-After of a 429/503 is honoured up to this many seconds (Scrapy ignores Retry-After: scrapy#3849).
RETRY_AFTER_MAX = 600.0

# A spider retrying a well-formed but unusable page (TED timedOut) yields get_retry_request(), which carries
# retry_times on purpose: not a meta copy for MetaCopyDetectionMiddleware to warn about.
META_COPY_WARN_SKIP_KEYS = ["retry_times"]  # default [] (Scrapy 2.19)

DOWNLOADER_MIDDLEWARES = {
    # Serves files a killed crawl already saved (resume) before anything goes to the network.
    "scrapers.middlewares.SnapshotResumeMiddleware": 50,
    # Sleeps the backoff / Retry-After wait a retried request carries, and holds a host paused after a 429.
    "scrapers.middlewares.BackoffWaitMiddleware": 60,
    # Replaces Scrapy's RetryMiddleware (550): same retries + backoff, Retry-After, WAF 202, invalid bodies.
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "scrapers.middlewares.BackoffRetryMiddleware": 550,
}
ITEM_PIPELINES = {
    "scrapers.pipelines.ValidateRawFile": 100,
}
EXTENSIONS = {
    # Writes raw files to the partial partition and swaps complete partitions in at close.
    "scrapers.extensions.RawSnapshots": 500,
    # Writes the crawl's stats JSON (read by scrapers.crawl.run_crawl); after RawSnapshots on spider_closed.
    "scrapers.extensions.CrawlStatsFile": 600,
}

# Scrapy ≥ 2.13 defaults kept explicit because the backoff sleeps on the asyncio loop.
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"  # default (kept)
FEED_EXPORT_ENCODING = "utf-8"  # default None (template utf-8); no feeds are used, raw files are bytes
