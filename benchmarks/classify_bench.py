"""Throughput of `pipelines.classify.classify` on synthetic DECP-like rows (a benchmark, not a test).

Usage: python benchmarks/classify_bench.py [--rows 1000000] [--seed 0]
Prints the rules alone, the text model alone and the whole decision (rules + text model + combination, what the
pipeline and `achats-innovants classify` run), with wall and CPU time.
The mix imitates the real samples: about 3 % of objets carry an innovation-related word (guards included),
0.5 % a strong phrase, 2024-style declared flags mostly false. Objets get a random reference number so the
text column is not a handful of repeated strings: nearly every row is a distinct text, the worst case for the
text model, which scores each distinct text once.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from pipelines.classify import classify, rules
from pipelines.classify.decision import shipped_model

MUNDANE = [
    "Travaux de réhabilitation de 40 logements collectifs : Lot 9 : PEINTURE - SOLS SOUPLES",
    "Fourniture de papier pour le Centre de recherche de Saclay",
    "Maintenance préventive et corrective des installations de chauffage, ventilation et climatisation",
    "Prestations de nettoyage des locaux municipaux et vitreries",
    "Acquisition d'un véhicule utilitaire électrique pour les services techniques",
    "Collecte et traitement des déchets ménagers et assimilés",
    "Mission de maîtrise d'œuvre pour la restructuration de l'école élémentaire",
    "Fourniture de denrées alimentaires pour la restauration scolaire - Lot 3 : produits laitiers",
    "Tierce maintenance applicative du logiciel de gestion financière",
    "Assurance dommages aux biens et responsabilité civile 2025-2028",
]
KEYWORDED = [
    "Expérimentation d'une solution de télérelève des compteurs d'eau",
    "Formation-action à l'innovation managériale des cadres",
    "Travaux de rénovation du bâtiment Innovation - Lot 2 : menuiseries",
    "Fabrication d'un prototype de capteur de qualité de l'air",
    "Projet pilote de collecte des biodéchets en porte-à-porte",
    "Étude sur l'usage de l'intelligence artificielle dans l'instruction des demandes",
    "Aménagement de plateaux pour l'accueil de start-up",
]
STRONG = [
    "Partenariat d'innovation pour un drone de surveillance des digues",
    "Achat innovant (article R. 2122-9-1) : plateforme de covoiturage",
]
PROCEDURES = [
    "Procédure adaptée",
    "Appel d'offres ouvert",
    "Marché passé sans publicité ni mise en concurrence préalable",
    "Procédure avec négociation",
]


def synthetic(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    kind = rng.random(rows)
    base = np.where(
        kind < 0.005,
        rng.choice(STRONG, rows),
        np.where(kind < 0.035, rng.choice(KEYWORDED, rows), rng.choice(MUNDANE, rows)),
    )
    ref = rng.integers(1, 10**6, rows).astype(str)
    declared = pd.array(rng.choice([True, False, None], rows, p=[0.02, 0.6, 0.38]), dtype="boolean")
    return pd.DataFrame(
        {
            "objet": pd.Series(np.char.add(np.char.add(ref, " - "), base.astype(str)), dtype="str"),
            "code_cpv": pd.Series(
                rng.choice(["45000000", "73100000-3", "90500000", "72200000", ""], rows), dtype="str"
            ),
            "procedure": pd.Series(rng.choice(PROCEDURES, rows, p=[0.6, 0.25, 0.1, 0.05]), dtype="str"),
            "montant": rng.lognormal(11, 1.5, rows).round(2),
            "date_notification": pd.Series(
                pd.Timestamp("2018-01-01") + pd.to_timedelta(rng.integers(0, 2500, rows), unit="D")
            ).dt.strftime("%Y-%m-%d"),
            "marche_innovant_declare": declared,
        }
    )


def _timed(label: str, rows: int, work):
    wall, cpu = time.perf_counter(), time.process_time()
    out = work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:<38} {wall:6.2f} s wall, {cpu:6.2f} s CPU (this process) -> {rows / wall:,.0f} rows/s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    df = synthetic(args.rows, args.seed)
    classify(df.head(1000))  # warm-up: model file, regex compilation, imports
    model, _ = shipped_model()
    print(f"{args.rows:,} rows, {df['objet'].nunique():,} distinct objets, model {len(model.vocabulary):,} terms")
    _timed("rules alone", args.rows, lambda: rules.classify(df))
    _timed("text model alone", args.rows, lambda: model.logits(df["objet"]))
    out = _timed("decision (rules + text model)", args.rows, lambda: classify(df))
    print(f"{int(out['innovant'].sum()):,} innovant, {(out['innovation_signaux'] != '').mean():.1%} with a signal")


if __name__ == "__main__":
    main()
