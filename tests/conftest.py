"""Shared fixtures. Real samples are read in place from ACHATS_REAL_DATA (default ../shared/data/real)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# The reading cache (decp.file_cache) is keyed by file bytes and code version, not by what a test monkeypatches:
# tests read every file afresh and never write data/cache/ in the checkout; the cache's own tests set a folder.
os.environ["ACHATS_CACHE_DIR"] = "off"


def real_data_dir() -> Path:
    return Path(os.environ.get("ACHATS_REAL_DATA", REPO_ROOT.parent / "shared" / "data" / "real")).resolve()


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Folder of real samples; tests that need it skip when it is absent (never copied into the repo)."""
    path = real_data_dir()
    if not (path / "decp").is_dir():
        pytest.skip(f"real samples not found at {path} (set ACHATS_REAL_DATA)")
    return path


@pytest.fixture(scope="session")
def boamp_real(real_data) -> list[dict]:
    """The real records of the recorded BOAMP /records page (crawl tests build day pages from them)."""
    page = json.loads((real_data / "notices/boamp/ods_api_v2.1/records_20_notices_2006_Boamp_v110.json").read_bytes())
    return page["results"]
