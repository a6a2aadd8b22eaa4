"""Live collection (Scrapy): one spider per source writing raw snapshots; see scrapers/README.md.

``scrapers.snapshots`` (the raw store) and ``scrapers.crawl`` (the subprocess runner) import no Scrapy at module
level, so the Dagster code can read snapshots and launch crawls without loading Twisted in its own process.
"""

__version__ = "0.1.0"
