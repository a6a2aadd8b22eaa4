"""Structured alerts for failed runs: one JSON log line, optionally a JSON-lines file and a webhook POST.

The alert says what failed (job, partition, assets, steps), why (the first error message), when, and where to
look (the run's page in the Dagster UI when its address is configured).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

LOGGER = logging.getLogger("achats_innovants.alertes")
MESSAGE_CHARS = 2000


def build_alert(run_id: str, job: str, status: str, message: str, *, partition: str | None = None,
                assets: list[str] | None = None, failed_steps: list[str] | None = None,
                started: float | None = None, ended: float | None = None, dagster_url: str | None = None) -> dict:
    def iso(ts: float | None) -> str | None:
        return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds") if ts else None

    link = f"{dagster_url}/runs/{run_id}" if dagster_url else None
    summary = f"[achats-innovants] échec du run {job}" + (f" (partition {partition})" if partition else "")
    first_line = (message or "").strip().splitlines()[0][:300] if (message or "").strip() else "sans message"
    return {
        "type": "alerte",
        "niveau": "erreur",
        "evenement": "run_en_echec",
        "statut": status,
        "job": job,
        "run_id": run_id,
        "partition": partition,
        "assets": sorted(assets or []),
        "etapes_en_echec": sorted(failed_steps or []),
        "message": (message or "")[:MESSAGE_CHARS],
        "debut": iso(started),
        "fin": iso(ended),
        "lien": link,
        # Chat webhooks (Mattermost, Slack, Rocket.Chat) display "text" and ignore the other fields.
        "text": f"{summary} : {first_line}" + (f" — {link}" if link else ""),
    }


def post_webhook(url: str, alert: dict, timeout_s: float = 10.0) -> int:
    """POST the alert as JSON; returns the HTTP status. Raises OSError (URLError) when unreachable."""
    request = urllib.request.Request(url, data=json.dumps(alert, ensure_ascii=False).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return response.status


def emit(alert: dict, *, log: logging.Logger | None = None, alert_file: Path | None = None,
         webhook: str | None = None) -> list[str]:
    """Send the alert everywhere configured. A failing channel never hides the alert: it is reported in the log
    and in the returned problems, and the other channels still get it."""
    line = json.dumps(alert, ensure_ascii=False, sort_keys=True)
    (log or LOGGER).error(line)
    problems = []
    if alert_file is not None:
        try:
            alert_file.parent.mkdir(parents=True, exist_ok=True)
            # One write of one line in append mode: concurrent writers never interleave inside a line.
            fd = os.open(alert_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (line + "\n").encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as exc:
            problems.append(f"fichier d'alertes {alert_file} : {exc}")
    if webhook:
        try:
            status = post_webhook(webhook, alert)
            if status >= 300:
                problems.append(f"webhook {webhook} : statut HTTP {status}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            problems.append(f"webhook {webhook} : {exc}")
    for problem in problems:
        (log or LOGGER).warning("alerte non transmise : %s", problem)
    return problems
