"""The publication's report page for journalists: ``index.html``, in French, static and self-contained.

``build_report`` reads the published tables (``marches``, ``indicateurs``, ``references``), the list of published
files and the model card, and writes one HTML file with inline CSS and inline SVG charts (matplotlib): it opens
from disk with no server and no network. Same inputs, same bytes.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from .formatting import (format_bytes, format_date, format_euros, format_integer, format_number, format_percent,
                         format_points)
from .html import render_page

__all__ = ["build_report", "format_bytes", "format_date", "format_euros", "format_integer", "format_number",
           "format_percent", "format_points"]


def build_report(folder: Path, tables: dict[str, pd.DataFrame], downloads: list[dict], card: dict | None,
                 created: dt.datetime) -> Path:
    """Write ``folder/index.html`` and return its path.

    ``tables``: published DataFrames by name (missing or empty ones are reported in the page, not an error);
    ``downloads``: the published files, each {"path", "format", "table", "rows", "bytes", "sha256", "schema",
    "licence"} with ``path`` and ``schema`` relative to ``folder`` (linked only when the file exists there);
    ``card``: the model card (``carte-modele.json``) or None; ``created``: the publication date shown."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "index.html"
    target.write_text(render_page(folder, tables, downloads, card, created), encoding="utf-8", newline="\n")
    return target
