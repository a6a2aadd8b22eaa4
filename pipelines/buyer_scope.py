"""Provisional buyer scope from the SIREN alone (no SIRENE register yet).

INSEE numbers State administrations with SIRENs starting with 1 and local authorities (communes, départements,
régions, their groupings) with SIRENs starting with 2. This is an approximation: State operators (universities,
EPA/EPIC) and hospitals are not told apart and land in ``etat``/``collectivite``/``autre`` by their number. The
indicators say so in ``methode``; the SIRENE enrichment will replace it.
"""

from __future__ import annotations

import pandas as pd

METHOD = "perimetre approche par le premier chiffre du SIREN (1 = Etat, 2 = collectivites), sans SIRENE"
CATEGORIES = ("etat", "collectivite", "autre")


def buyer_category(siret: pd.Series) -> pd.Series:
    first = siret.astype("string").str.strip().str[:1]
    valid = siret.astype("string").str.fullmatch(r"\d{9}(\d{5})?").fillna(False)
    category = pd.Series("autre", index=siret.index, dtype="string")
    category[valid & (first == "1")] = "etat"
    category[valid & (first == "2")] = "collectivite"
    return category
