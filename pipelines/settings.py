"""Configuration from environment variables (documented in .env.example); no secrets needed so far."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = Path(__file__).resolve().parent / "sample_data"


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"variable d'environnement {name}={raw!r} : entier attendu") from exc


def max_file_bytes() -> int:
    """Largest input file read; national yearly DECP files are a few hundred MB."""
    return env_int("ACHATS_MAX_FILE_BYTES", 4 * 1024**3)


def out_dir() -> Path:
    return Path(os.environ.get("ACHATS_OUT_DIR") or REPO_ROOT / "published")


def raw_dir() -> Path:
    """Raw snapshots of the live sources (one folder per source and partition, written by scrapers/)."""
    return Path(os.environ.get("ACHATS_RAW_DIR") or REPO_ROOT / "data" / "raw")


def crawl_timeout_s() -> float:
    """A crawl still running after this is stopped (its partial partitions stay resumable)."""
    return float(env_int("ACHATS_CRAWL_TIMEOUT_S", 6 * 3600))


def crawl_settings() -> dict[str, str]:
    """Scrapy settings for every crawl, from ACHATS_CRAWL_SETTINGS="NAME=value;NAME=value" (e.g. delays)."""
    raw = os.environ.get("ACHATS_CRAWL_SETTINGS", "").strip()
    pairs = [item.split("=", 1) for item in raw.split(";") if item.strip()]
    bad = [item for item in pairs if len(item) != 2 or not item[0].strip()]
    if bad:
        raise ValueError(f"ACHATS_CRAWL_SETTINGS={raw!r} : NOM=valeur;NOM=valeur attendu")
    return {name.strip(): value.strip() for name, value in pairs}


def crawl_retries() -> int:
    """Retries of a failed crawl when the failure looks transient (network, 429, 5xx, killed)."""
    return env_int("ACHATS_CRAWL_RETRIES", 3)


def crawl_retry_delay_s() -> int:
    """First wait before retrying a crawl; doubled at each retry (exponential backoff, with jitter)."""
    return env_int("ACHATS_CRAWL_RETRY_DELAY_S", 600)


def automation_on() -> bool:
    """Schedules, the DECP sensor and the automation sensor start RUNNING (production) instead of STOPPED."""
    return os.environ.get("ACHATS_AUTOMATISATION", "").strip().lower() in ("1", "true", "oui", "on")


def alert_webhook() -> str | None:
    """URL receiving a JSON POST for each failed run (Mattermost/Slack-compatible "text" field)."""
    return os.environ.get("ACHATS_ALERT_WEBHOOK", "").strip() or None


def alert_file() -> Path | None:
    """JSON-lines file each alert is appended to (in addition to the log line)."""
    raw = os.environ.get("ACHATS_ALERT_FILE", "").strip()
    return Path(raw) if raw else None


def dagster_url() -> str | None:
    """Public address of the Dagster UI, so alerts link to the failed run."""
    return os.environ.get("ACHATS_DAGSTER_URL", "").strip().rstrip("/") or None


def input_paths() -> list[str]:
    """Explicit inputs of the Dagster job (ACHATS_INPUT_PATHS, ':'-separated); empty means automatic."""
    raw = os.environ.get("ACHATS_INPUT_PATHS", "").strip()
    return [p for p in raw.split(os.pathsep) if p]


def sample_files() -> list[Path]:
    """Data files of the shipped sample (its README is documentation, not input)."""
    return sorted(p for p in SAMPLE_DIR.iterdir() if p.suffix in (".json", ".xml", ".csv"))


def real_data_dir() -> Path:
    """The team's real samples (labelled-set evaluation, training, tests); read in place, never copied."""
    return Path(os.environ.get("ACHATS_REAL_DATA") or REPO_ROOT.parent / "shared" / "data" / "real")


def innovative_smes() -> set[str] | None:
    """SIRENs of innovative SMEs (JEI, French Tech lists…) from ACHATS_PME_INNOVANTES: a file with one SIREN or
    SIRET per line (or a CSV whose first column holds them). None when unset: the supplier-based family then
    publishes only its upper bound (all SMEs). No such list is open today."""
    raw = os.environ.get("ACHATS_PME_INNOVANTES", "").strip()
    if not raw:
        return None
    path = Path(raw)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise ValueError(f"ACHATS_PME_INNOVANTES={raw} : fichier illisible ({exc.strerror or exc})") from exc
    sirens = set()
    for line in lines:
        first = line.split(",")[0].split(";")[0].strip().replace(" ", "")
        if first[:9].isdigit() and len(first) in (9, 14):
            sirens.add(first[:9])
    return sirens


def public_url() -> str | None:
    """Base URL where the publication is served (ACHATS_PUBLIC_URL), for absolute links in the DCAT catalogue;
    None: links stay relative to the catalogue."""
    return os.environ.get("ACHATS_PUBLIC_URL", "").strip() or None
