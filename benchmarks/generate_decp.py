"""A realistic DECP corpus of any size, deterministic by seed, for the scale benchmark.

Usage: .venv/bin/python benchmarks/generate_decp.py --records 1000000 --seed 1 --format mixed --out /tmp/decp-1m

Writes consolidated monthly files like data.gouv.fr's (``decp-YYYY-MM.json``, ``--per-file`` records each, 25 000 by
default: a national month), in the 2024 format (``{"marches": {"marche": [...]}}``), the 2019 one
(``{"marches": [...]}``), or ``mixed`` (2019 format up to 2023, 2024 format after, as the national history is).

Value distributions are read at run time from the real samples (``$ACHATS_REAL_DATA``, default
``../shared/data/real``): objects, CPV codes, procedures, natures, buyers and suppliers, amount and duration
quantiles, share of records with modifications, number of suppliers, share declared innovative. Without that
folder a small built-in vocabulary is used and ``.corpus.json`` says ``"distributions": "synthetic"``. Nothing of
the real samples is copied whole: each record draws its fields independently, and objects are recombined.

A few percent of records are messy, as real consolidations are: a missing id or buyer (rejected), a bad date or an
amount written as text (kept, flagged in anomalies), republications of the same contract in a later month with a
modification (merged by consolidation) and lots that reuse an id for another object (``uid_en_collision``).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

REAL_DATA = Path(os.environ.get("ACHATS_REAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "real"))
PER_FILE = 25_000
# Part of a corpus's identity (benchmarks regenerate a corpus made by another version of this file).
VERSION = 2
# Hidden: the pipeline skips hidden files when it walks the corpus folder.
MANIFEST = ".corpus.json"
# Shares of the messy kinds, per record (about 4 % in all, the order of the real consolidated files' defects).
MESSY = {"sans_id": 0.004, "sans_acheteur": 0.003, "date_invalide": 0.004, "montant_texte": 0.01,
         "republie": 0.015, "collision": 0.003}


@dataclass
class Distributions:
    """Observed values; drawing uniformly from a list keeps the observed frequencies."""

    label: str
    objets: list[str]
    cpv: list[str]
    procedures_2024: list[str]
    procedures_2019: list[str]
    natures: list[str]
    buyers: list[str]
    suppliers: list[str]
    amount_quantiles: np.ndarray  # 101 quantiles of the amounts, 0 % to 100 %
    durations: list[int]
    supplier_counts: list[int]
    share_modified: float
    share_innovative: float


SYNTHETIC = Distributions(
    label="synthetic",
    objets=["Travaux de rénovation du groupe scolaire : lot 3 menuiseries", "Fourniture de denrées alimentaires",
            "Maintenance des ascenseurs des bâtiments communaux", "Mission de maîtrise d'œuvre pour la médiathèque",
            "Prestations de nettoyage des locaux administratifs", "Acquisition de véhicules électriques",
            "Expérimentation d'un dispositif innovant de télésurveillance", "Entretien des espaces verts",
            "Assistance à maîtrise d'ouvrage système d'information", "Travaux de voirie et réseaux divers"],
    cpv=["45000000", "45210000", "15800000", "50750000", "71000000", "90910000", "34144900", "73100000",
         "77310000", "72000000"],
    procedures_2024=["Procédure adaptée", "Appel d'offres ouvert", "Procédure négociée sans publicité ni mise en "
                     "concurrence préalable", "Marché passé sans publicité ni mise en concurrence préalable",
                     "Dialogue compétitif"],
    procedures_2019=["Procédure adaptée", "Appel d'offres ouvert", "Appel d'offres restreint",
                     "Procédure négociée ouverte"],
    natures=["Marché", "Accord-cadre", "Marché subséquent"],
    buyers=[f"2159{i:06d}{(i * 7) % 10000:04d}" for i in range(200)],
    suppliers=[f"4{i:08d}{(i * 13) % 100000:05d}" for i in range(2000)],
    amount_quantiles=np.geomspace(40_000, 20_000_000, 101),
    durations=[1, 3, 6, 12, 12, 12, 24, 36, 48],
    supplier_counts=[1] * 8 + [2, 3],
    share_modified=0.1,
    share_innovative=0.03,
)


def _number(value) -> float | None:
    try:
        number = float(str(value).replace(",", ".").replace(" ", ""))
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _json_records(folder: Path) -> list[dict]:
    records = []
    for path in sorted(folder.glob("*.json")):
        document = orjson.loads(path.read_bytes())
        marches = document.get("marches") if isinstance(document, dict) else None
        if isinstance(marches, dict):
            marches = marches.get("marche") or []
        records.extend(r for r in marches or [] if isinstance(r, dict))
    return records


def _csv_rows(folder: Path) -> list[dict]:
    rows = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


def _supplier_ids(record: dict) -> list[str]:
    found = []
    for item in record.get("titulaires") or []:
        if isinstance(item, dict):
            item = item.get("titulaire", item)
            if isinstance(item, dict) and item.get("id"):
                found.append(str(item["id"]))
    return found


def read_distributions(real: Path = REAL_DATA) -> Distributions:
    """The real samples' distributions; the synthetic vocabulary when the folder is absent."""
    decp = real / "decp"
    if not decp.is_dir():
        return SYNTHETIC
    v2 = _json_records(decp / "decp2022-json")
    v1 = _json_records(decp / "decp2019-json")
    flat = _csv_rows(decp / "decp2019-csv")
    tabular = _csv_rows(decp / "decpinfo-tabular-csv")
    nested = v1 + v2
    objets = [o.strip() for o in [r.get("objet") for r in nested] + [r.get("objet") for r in flat]
              if isinstance(o, str) and len(o.strip()) > 5]
    cpv = [str(c)[:8] for c in [r.get("codeCPV") for r in nested + flat + tabular] if c and str(c)[:8].isdigit()]
    amounts = [a for a in (_number(r.get("montant")) for r in nested + flat + tabular) if a and a > 0]
    durations = [int(d) for d in (_number(r.get("dureeMois")) for r in nested + flat + tabular) if d and 0 < d <= 240]
    buyers = [b for b in [(r.get("acheteur") or {}).get("id") if isinstance(r.get("acheteur"), dict) else None
                          for r in nested] + [r.get("acheteur.id") for r in flat] + [r.get("acheteur_id")
                                                                                      for r in tabular] if b]
    suppliers = [s for r in nested for s in _supplier_ids(r)] + [r["titulaire_id"] for r in tabular
                                                                  if r.get("titulaire_id")]
    counts = [len(_supplier_ids(r)) for r in v2 if _supplier_ids(r)]
    modified = [bool(r.get("modifications")) for r in v2]
    declared = [r.get("marcheInnovant") is True for r in v2]
    if not (objets and cpv and amounts and buyers and suppliers):
        return SYNTHETIC
    return Distributions(
        label=f"réelles ({real})",
        objets=objets,
        cpv=cpv,
        procedures_2024=[p for p in (r.get("procedure") for r in v2) if p] or SYNTHETIC.procedures_2024,
        procedures_2019=[p for p in (r.get("procedure") for r in v1 + flat) if p] or SYNTHETIC.procedures_2019,
        natures=[n for n in (r.get("nature") for r in v2) if n] or SYNTHETIC.natures,
        buyers=[str(b) for b in buyers],
        suppliers=[str(s) for s in suppliers],
        amount_quantiles=np.quantile(np.array(amounts), np.linspace(0, 1, 101)),
        durations=durations or SYNTHETIC.durations,
        supplier_counts=counts or SYNTHETIC.supplier_counts,
        share_modified=float(np.mean(modified)) if modified else SYNTHETIC.share_modified,
        share_innovative=float(np.mean(declared)) if declared else SYNTHETIC.share_innovative,
    )


def _months(start: dt.date, count: int) -> list[dt.date]:
    return [dt.date(start.year + (start.month - 1 + i) // 12, (start.month - 1 + i) % 12 + 1, 1) for i in range(count)]


START = {"2024": dt.date(2024, 1, 1), "2019": dt.date(2019, 1, 1)}
# mixed: the national history, 2019 format until the 2024 reform.
MIXED_SWITCH = dt.date(2024, 1, 1)


def _month_plan(records: int, per_file: int, fmt: str) -> list[tuple[dt.date, str, int]]:
    """(month, format, records) per file; a mixed corpus ends in December 2025 and starts as early as needed."""
    files = max(1, -(-records // per_file))
    if fmt == "mixed":
        first = 2025 * 12 + 11 - (files - 1)  # months counted from year 0, the last one December 2025
        months = _months(dt.date(first // 12, first % 12 + 1, 1), files)
    else:
        months = _months(START[fmt], files)
    sizes = [per_file] * (files - 1) + [records - per_file * (files - 1)]
    return [(m, fmt if fmt != "mixed" else ("2024" if m >= MIXED_SWITCH else "2019"), n)
            for m, n in zip(months, sizes)]


class Drawer:
    """Vectorised draws for one file: every column drawn with numpy, then assembled into records."""

    def __init__(self, dist: Distributions, rng: np.random.Generator):
        self.dist = dist
        self.rng = rng
        # Supplier universe: the real ids plus synthetic SIRETs so that a national corpus has many suppliers.
        extra = rng.integers(10**13, 10**14 - 1, size=20_000)
        self.suppliers = dist.suppliers + [str(s) for s in extra]

    def pick(self, values: list, n: int) -> list:
        return [values[i] for i in self.rng.integers(0, len(values), size=n)]

    def amounts(self, n: int) -> np.ndarray:
        """Log-linear interpolation between the observed quantiles (a smooth empirical distribution)."""
        q = np.log(np.maximum(self.dist.amount_quantiles, 1.0))
        position = self.rng.random(n) * 100
        low = np.floor(position).astype(int).clip(0, 99)
        values = np.exp(q[low] + (q[low + 1] - q[low]) * (position - low))
        return np.round(values, 2)

    def objets(self, n: int) -> list[str]:
        """Real objects, most given a lot or a place from another real object, so that texts are mostly distinct
        (the text model's cost grows with the number of distinct texts, as on the national corpus)."""
        base = self.pick(self.dist.objets, n)
        other = self.pick(self.dist.objets, n)
        lots = self.rng.integers(1, 40, size=n)
        kind = self.rng.random(n)
        out = []
        for text, extra, lot, k in zip(base, other, lots.tolist(), kind.tolist()):
            if k < 0.45:
                text = f"{text} - Lot {lot} : {' '.join(extra.split()[:4])}"
            elif k < 0.75:
                text = f"{text} ({' '.join(extra.split()[-3:])})"
            out.append(text)
        return out


def _siret_list(drawer: Drawer, counts: np.ndarray) -> list[list[str]]:
    flat = drawer.pick(drawer.suppliers, int(counts.sum()))
    out, at = [], 0
    for c in counts.tolist():
        out.append(flat[at:at + c])
        at += c
    return out


def _records(drawer: Drawer, month: dt.date, fmt: str, n: int, file_index: int) -> list[dict]:
    rng, dist = drawer.rng, drawer.dist
    days = rng.integers(0, 28, size=n)
    delays = rng.integers(0, 60, size=n)
    notified = [month + dt.timedelta(days=int(d)) for d in days]
    published = [(d + dt.timedelta(days=int(x))).isoformat() for d, x in zip(notified, delays.tolist())]
    amounts = drawer.amounts(n)
    durations = drawer.pick(dist.durations, n)
    counts = np.array(drawer.pick(dist.supplier_counts, n))
    suppliers = _siret_list(drawer, counts)
    modified = rng.random(n) < dist.share_modified
    innovative = rng.random(n) < dist.share_innovative
    offers = rng.integers(1, 12, size=n).tolist()
    buyers = drawer.pick(dist.buyers, n)
    cpv = drawer.pick(dist.cpv, n)
    objets = drawer.objets(n)
    natures = drawer.pick(dist.natures, n)
    procedures = drawer.pick(dist.procedures_2024 if fmt == "2024" else dist.procedures_2019, n)
    records = []
    for i in range(n):
        record = {
            "id": f"{month.year}{month.month:02d}{file_index:03d}{i:07d}",
            "acheteur": {"id": buyers[i]},
            "nature": natures[i],
            "objet": objets[i],
            "codeCPV": cpv[i],
            "procedure": procedures[i],
            "lieuExecution": {"code": buyers[i][:2] if fmt == "2024" else "75001",
                              "typeCode": "Code département" if fmt == "2024" else "Code postal"},
            "dureeMois": durations[i],
            "dateNotification": notified[i].isoformat(),
            "datePublicationDonnees": published[i],
            "montant": float(amounts[i]),
            "formePrix": "Forfaitaire" if fmt == "2024" else "Ferme",
        }
        if fmt == "2024":
            record.update({
                "techniques": {"technique": ["Sans objet"]},
                "modalitesExecution": {"modaliteExecution": ["Sans objet"]},
                "marcheInnovant": bool(innovative[i]), "ccag": "Pas de CCAG", "offresRecues": offers[i],
                "attributionAvance": False, "tauxAvance": 0.0, "typeGroupementOperateurs": "Pas de groupement",
                "sousTraitanceDeclaree": False,
                "titulaires": [{"titulaire": {"typeIdentifiant": "SIRET", "id": s}} for s in suppliers[i]],
                "considerationsSociales": {"considerationSociale": ["Pas de considération sociale"]},
                "considerationsEnvironnementales": {
                    "considerationEnvironnementale": ["Pas de considération environnementale"]},
                "typesPrix": {"typePrix": ["Définitif ferme"]},
            })
        else:
            # The 1.5 schema requires the place's name and a modifications list (empty when none) and caps objects
            # at 256 characters: generated records follow it, only the messy ones break it.
            record["objet"] = record["objet"][:256]
            record["lieuExecution"]["nom"] = "Paris"
            record["modifications"] = []
            record["acheteur"]["nom"] = f"Acheteur {buyers[i][-5:]}"
            record["titulaires"] = [{"typeIdentifiant": "SIRET", "id": s, "denominationSociale": f"Entreprise {s[-5:]}"}
                                    for s in suppliers[i]]
        if modified[i]:
            record["modifications"] = [_modification(record, fmt, 1, 1.1)]
        records.append(record)
    return records


def _modification(record: dict, fmt: str, number: int, factor: float) -> dict:
    when = (dt.date.fromisoformat(record["dateNotification"]) + dt.timedelta(days=60 * number)).isoformat()
    amount = round(float(record["montant"]) * factor, 2) if isinstance(record["montant"], float) else record["montant"]
    if fmt == "2024":
        return {"modification": {"id": number, "montant": amount, "dateNotificationModification": when,
                                 "datePublicationDonneesModification": when}}
    return {"objetModification": f"Avenant n°{number}", "montant": amount, "dateNotificationModification": when,
            "datePublicationDonneesModification": when}


def _make_messy(records: list[dict], earlier: list[dict], fmt: str, rng: np.random.Generator) -> list[dict]:
    """Spoil a few records in place; republications and id-reusing lots are added (they come from earlier files)."""
    n = len(records)
    draws = {kind: np.flatnonzero(rng.random(n) < share) for kind, share in MESSY.items()}
    for i in draws["sans_id"].tolist():
        records[i].pop("id", None)
    for i in draws["sans_acheteur"].tolist():
        records[i].pop("acheteur", None)
    for i in draws["date_invalide"].tolist():
        records[i]["dateNotification"] = "31/02/" + records[i]["dateNotification"][:4]
    for i in draws["montant_texte"].tolist():
        records[i]["montant"] = f"{records[i]['montant']:.2f}"
    added = []
    if earlier:
        sources = rng.integers(0, len(earlier), size=len(draws["republie"]) + len(draws["collision"])).tolist()
        for pick in sources[:len(draws["republie"])]:
            again = orjson.loads(orjson.dumps(earlier[pick]))
            mods = again.setdefault("modifications", [])
            mods.append(_modification(again, fmt, len(mods) + 1, 1.05))
            added.append(again)
        for pick in sources[len(draws["republie"]):]:
            lot = orjson.loads(orjson.dumps(earlier[pick]))
            lot["objet"] = f"{lot.get('objet', '')} - lot complémentaire"
            lot["dateNotification"] = (dt.date.fromisoformat(lot["dateNotification"]) + dt.timedelta(days=3)).isoformat()
            added.append(lot)
    # Added records replace as many fresh ones, so that a file keeps its size.
    return records[:n - len(added)] + added if added else records


def _clean_pool(records: list[dict]) -> list[dict]:
    """Records fit to be republished later (an id, a buyer, a well-formed date and amount)."""
    return [r for r in records if "id" in r and "acheteur" in r and r["dateNotification"][:4].isdigit()
            and not isinstance(r["montant"], str)]


def _document(records: list[dict], fmt: str) -> dict:
    return {"marches": {"marche": records}} if fmt == "2024" else {"marches": records}


def generate(records: int, seed: int, fmt: str, out: Path, per_file: int = PER_FILE,
             dist: Distributions | None = None) -> list[Path]:
    """Write the corpus; same arguments, same bytes."""
    dist = dist or read_distributions()
    rng = np.random.default_rng(seed)
    drawer = Drawer(dist, rng)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    pool: list[dict] = []
    for index, (month, file_format, n) in enumerate(_month_plan(records, per_file, fmt)):
        batch = _make_messy(_records(drawer, month, file_format, n, index), pool, file_format, rng)
        path = out / f"decp-{month:%Y-%m}.json"
        path.write_bytes(orjson.dumps(_document(batch, file_format)))
        written.append(path)
        # Republications come from the previous months of the same format only (a record does not change format).
        fresh = _clean_pool(batch)
        pool = fresh if not pool or file_format != _format_of(pool[0]) else (pool + fresh)[-200_000:]
    (out / MANIFEST).write_bytes(orjson.dumps(
        {"records": records, "seed": seed, "format": fmt, "per_file": per_file, "version": VERSION,
         "distributions": dist.label,
         "files": [p.name for p in written]}, option=orjson.OPT_INDENT_2))
    return written


def _format_of(record: dict) -> str:
    return "2024" if "marcheInnovant" in record else "2019"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", choices=("2024", "2019", "mixed"), default="mixed")
    parser.add_argument("--per-file", type=int, default=PER_FILE, help="records per monthly file")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.records < 1 or args.per_file < 1:
        parser.error("--records and --per-file must be positive")
    paths = generate(args.records, args.seed, args.format, args.out, args.per_file)
    size = sum(p.stat().st_size for p in paths)
    print(f"{args.records} records, {len(paths)} files, {size / 1e6:.0f} MB in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
