"""`data/qualite.csv`: what the pipeline saw in each input file, in long format.

Per source and per file: records read (`lus`), kept as their own row (`gardes`), merged into another row as a
republication or a copy (`fusionnes`), rejected (`rejetes`, then one `rejetes_<motif>` per reason), and
`lus = gardes + fusionnes + rejetes` holds for every file (tested on the real samples). A file rejected whole
(unreadable, too large, unknown format) has `fichier_rejete` = 1 and its reason in `detail`.

Then the decp-qualite indicators (reference/decp.md §2.1) on the contracts kept from the file: amounts out of
[200 €; 999 999 999 €], publication before notification, notification → publication over 62 days, dates in the
future, missing values by field; and the source-format checks (official JSON Schema) when the reader reported
them. One row per source with `fichier` = "*" sums the files of that source.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pandas as pd

from .indicators import AMOUNT_MAX, AMOUNT_MIN

COLUMNS = ["source", "fichier", "format_source", "indicateur", "valeur", "unite", "detail"]
ALL_FILES = "*"
PUBLICATION_DELAY_DAYS = 62  # arrêté du 22 décembre 2022: data published within two months of notification

# Fields whose absence decp-qualite counts ("données manquantes"), by published column.
MISSING_FIELDS = ("objet", "code_cpv", "procedure", "nature", "montant", "date_notification", "duree_mois",
                  "lieu_execution_code", "titulaires_ids", "date_publication_donnees")


def _source_of(format_source: object) -> str:
    text = str(format_source or "")
    return text.split("-", 1)[0] if text else "inconnue"


def _notice_files(fichiers: list[dict]):
    """The input file of a notice row: its `_chemin`, else the one file with its name (notices record the name)."""
    by_name: dict[str, list[str]] = {}
    for report in fichiers:
        by_name.setdefault(str(report["fichier"]).rsplit("/", 1)[-1], []).append(report["fichier"])

    def file_of(row: dict) -> str | None:
        if row.get("_chemin"):
            return row["_chemin"]
        candidates = by_name.get(str(row.get("source_fichier") or ""), [])
        return candidates[0] if len(candidates) == 1 else None

    return file_of


def _contract_checks(marches: pd.DataFrame, today: dt.date) -> dict[str, dict[str, int]]:
    """decp-qualite indicators on the contracts kept (marches columns, with ``_chemin``), by file."""
    if marches.empty:
        return {}
    amount = marches["montant"].astype("float64")
    notified, published = marches["date_notification"], marches["date_publication_donnees"]
    limit = pd.Timestamp(today)
    delay = (published - notified).dt.days
    checks = {
        "montants_hors_plage": amount.notna() & ((amount < AMOUNT_MIN) | (amount > AMOUNT_MAX)),
        "publication_avant_notification": delay < 0,
        f"publication_plus_{PUBLICATION_DELAY_DAYS}_jours": delay > PUBLICATION_DELAY_DAYS,
        "dates_futures": (notified > limit) | (published > limit),
    }
    for name in MISSING_FIELDS:
        if name == "titulaires_ids":  # a contract without suppliers (ids missing from listed suppliers are not)
            checks[f"manquant_{name}"] = marches["nb_titulaires"] == 0
            continue
        column = marches[name]
        missing = column.isna()
        if column.dtype == "string":
            missing |= (column == "").fillna(False)
        checks[f"manquant_{name}"] = missing
    by_file = pd.DataFrame({k: v.to_numpy(dtype=bool, na_value=False) for k, v in checks.items()})
    totals = by_file.groupby(marches["_chemin"].to_numpy(), sort=False).sum()
    return {name: {k: int(v) for k, v in counts.items()} for name, counts in totals.to_dict(orient="index").items()}


def quality_table(fichiers: list[dict], marches: pd.DataFrame, merged_marches: Counter, concessions: list[dict],
                  kept_notices: list[dict], read_notices: list[dict], rejets: list[dict],
                  today: dt.date | None = None) -> pd.DataFrame:
    """``fichiers``: the readers' per-file reports; ``marches``: contracts after consolidation (marches columns,
    with `_chemin`), ``merged_marches``: how many records of each file were merged into them; ``concessions``:
    concession rows after consolidation (with `_chemin` and `_fusions`); ``kept_notices`` / ``read_notices``:
    notices after and before deduplication (with `_chemin`); ``rejets``: every reject row (reader and
    consolidation)."""
    today = today or dt.date.today()
    notice_file = _notice_files(fichiers)
    kept = Counter({name: int(n) for name, n in marches["_chemin"].value_counts().items()})
    kept.update(r.get("_chemin") for r in concessions)
    kept.update(notice_file(r) for r in kept_notices)
    merged = Counter(merged_marches)
    merged.update(path for r in concessions for path in r.get("_fusions", ()))
    merged.update(Counter(notice_file(r) for r in read_notices) - Counter(notice_file(r) for r in kept_notices))
    record_rejects: dict[str, Counter] = {}
    file_rejects: dict[str, list[dict]] = {}
    for row in rejets:
        if row.get("position") is None:
            file_rejects.setdefault(row.get("fichier"), []).append(row)
        else:
            record_rejects.setdefault(row.get("fichier"), Counter())[row.get("motif")] += 1
    checks = _contract_checks(marches, today)

    records = []
    for report in fichiers:
        name, fmt = report["fichier"], report.get("format_source")
        source = _source_of(fmt)
        rejected = record_rejects.get(name, Counter())

        def add(indicator: str, value: float, unit: str = "enregistrements", detail: str | None = None) -> None:
            records.append({"source": source, "fichier": name, "format_source": fmt, "indicateur": indicator,
                            "valeur": value, "unite": unit, "detail": detail})

        add("lus", report.get("lus", 0))
        add("gardes", kept.get(name, 0))
        add("fusionnes", merged.get(name, 0))
        add("rejetes", sum(rejected.values()))
        for motif, count in sorted(rejected.items()):
            add(f"rejetes_{motif}", count)
        for row in file_rejects.get(name, []):
            add("fichier_rejete", 1, "fichiers", f"{row.get('motif')} : {row.get('detail') or ''}"[:300])
        for indicator, count in checks.get(name, {}).items():
            add(indicator, count)
        checked = report.get("schema_verifies")
        if checked is not None:
            add("schema_verifies", checked)
            add("schema_non_verifies", report.get("schema_non_verifies", 0))
            for code, count in sorted((report.get("schema_erreurs") or {}).items()):
                add(f"schema_{code}" if not str(code).startswith("schema_") else str(code), count)
    frame = pd.DataFrame.from_records(records, columns=COLUMNS)
    if frame.empty:
        return frame
    totals = (frame[frame["unite"] == "enregistrements"].groupby(["source", "indicateur"], sort=True)["valeur"].sum()
              .reset_index().assign(fichier=ALL_FILES, format_source=None, unite="enregistrements", detail=None))
    files_rejected = frame[frame["indicateur"] == "fichier_rejete"].groupby("source")["valeur"].sum()
    totals = pd.concat([totals, pd.DataFrame({"source": files_rejected.index, "indicateur": "fichier_rejete",
                                              "valeur": files_rejected.to_numpy(), "fichier": ALL_FILES,
                                              "format_source": None, "unite": "fichiers", "detail": None})])
    out = pd.concat([frame, totals[COLUMNS]], ignore_index=True)
    return out.sort_values(["source", "fichier", "indicateur"], kind="stable").reset_index(drop=True)
