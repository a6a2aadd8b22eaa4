"""Where the run's caches live: the per-file reading cache (decp.file_cache), the history state of the last run
(decp.history: its consolidated contracts and their decisions), the text-model logits of the last run
(classify.logit_cache) and the digests of the published tables' rows (row_digests). ACHATS_CACHE_DIR, default
data/cache/ at the repository root (beside data/raw and data/sirene, out of git). ``ACHATS_CACHE_DIR=off`` reads
every file and scores every text every time.
"""

from __future__ import annotations

import os
from pathlib import Path

OFF = "off"
DEFAULT = Path(__file__).resolve().parents[1] / "data" / "cache"


def cache_dir() -> Path | None:
    configured = os.environ.get("ACHATS_CACHE_DIR", "").strip()
    if configured.casefold() == OFF:
        return None
    return Path(configured) if configured else DEFAULT
