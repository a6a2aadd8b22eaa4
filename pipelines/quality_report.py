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
from .tables import columns_of

COLUMNS = ["source", "fichier", "format_source", "indicateur", "valeur", "unite", "detail"]
ALL_FILES = "*"
PUBLICATION_DELAY_DAYS = 62  # arrêté du 22 décembre 2022: data published within two months of notification

# Fields whose absence decp-qualite counts ("données manquantes"), by published column.
MISSING_FIELDS = ("objet", "code_cpv", "procedure", "nature", "montant", "date_notification", "duree_mois",
                  "lieu_execution_code", "titulaires_ids", "date_publication_donnees")


def _source_of(format_source: object) -> str:
    text = str(format_source or "")
    return text.split("-", 1)[0] if text else "inconnue"


def _dates(values: list) -> pd.Series:
    return pd.to_datetime(pd.Series([str(v or "")[:10] for v in values], dtype="string"), errors="coerce",
                          format="%Y-%m-%d")


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


def _missing(values: list) -> int:
    """How many values are None, NaN, "" or [] (C-level counts: a national file has millions of cells)."""
    return int(pd.Series(values, dtype=object).isna().sum()) + values.count("") + values.count([])


def _contract_checks(rows: list[dict], today: dt.date) -> dict[str, int]:
    """decp-qualite indicators on the contracts kept from one file."""
    if not rows:
        return {}
    fields = [name if name != "titulaires_ids" else "_titulaires" for name in MISSING_FIELDS]
    names = list(dict.fromkeys(["montant", "date_notification", "date_publication_donnees", *fields]))
    column = dict(zip(names, columns_of(rows, names)))  # one pass over the rows
    amount = pd.to_numeric(pd.Series(column["montant"], dtype="object"), errors="coerce")
    notified = _dates(column["date_notification"])
    published = _dates(column["date_publication_donnees"])
    limit = pd.Timestamp(today)
    delay = (published - notified).dt.days
    out = {
        "montants_hors_plage": int((amount.notna() & ((amount < AMOUNT_MIN) | (amount > AMOUNT_MAX))).sum()),
        "publication_avant_notification": int((delay < 0).sum()),
        f"publication_plus_{PUBLICATION_DELAY_DAYS}_jours": int((delay > PUBLICATION_DELAY_DAYS).sum()),
        "dates_futures": int(((notified > limit) | (published > limit)).sum()),
    }
    for name, field in zip(MISSING_FIELDS, fields):
        out[f"manquant_{name}"] = _missing(column[field])
    return out


def quality_table(fichiers: list[dict], kept_rows: list[dict], kept_notices: list[dict], read_notices: list[dict],
                  rejets: list[dict], today: dt.date | None = None) -> pd.DataFrame:
    """``fichiers``: the readers' per-file reports; ``kept_rows``: contracts and concessions after consolidation
    (with `_chemin` and `_fusions`); ``kept_notices`` / ``read_notices``: notices after and before deduplication
    (with `_chemin`); ``rejets``: every reject row (reader and consolidation)."""
    today = today or dt.date.today()
    notice_file = _notice_files(fichiers)
    kept = Counter(r.get("_chemin") for r in kept_rows)
    kept.update(notice_file(r) for r in kept_notices)
    merged = Counter(path for r in kept_rows for path in r.get("_fusions", ()))
    merged.update(Counter(notice_file(r) for r in read_notices) - Counter(notice_file(r) for r in kept_notices))
    record_rejects: dict[str, Counter] = {}
    file_rejects: dict[str, list[dict]] = {}
    for row in rejets:
        if row.get("position") is None:
            file_rejects.setdefault(row.get("fichier"), []).append(row)
        else:
            record_rejects.setdefault(row.get("fichier"), Counter())[row.get("motif")] += 1
    contracts_by_file: dict[str, list[dict]] = {}
    for row in kept_rows:
        if "date_notification" in row:
            contracts_by_file.setdefault(row.get("_chemin"), []).append(row)

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
        for indicator, count in _contract_checks(contracts_by_file.get(name, []), today).items():
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
