import dagster as dg

from .. import settings


class DecpInputs(dg.ConfigurableResource):
    """Input files or folders of the pipeline. Empty (default, unless ACHATS_INPUT_PATHS is set): the committed
    raw snapshots of the live sources. `make run` sets ACHATS_INPUT_PATHS to the shipped fictitious sample."""

    paths: list[str] = settings.input_paths()
    max_file_bytes: int = settings.max_file_bytes()


class PublicationTarget(dg.ConfigurableResource):
    """Folder the publication is swapped into (default: ACHATS_OUT_DIR, else published/)."""

    out_dir: str = str(settings.out_dir())


class RawStore(dg.ConfigurableResource):
    """Where crawls write their raw snapshots (ACHATS_RAW_DIR, else data/raw/), and Scrapy settings passed to
    every crawl (``-s NAME=value``: base URLs of a replay server, delays)."""

    root: str = str(settings.raw_dir())
    crawl_settings: dict[str, str] = settings.crawl_settings()
    crawl_timeout_s: float = settings.crawl_timeout_s()
