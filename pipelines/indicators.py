"""Indicators v1: object-based share of innovative purchases, per year and buyer scope, against the 2 % target.

Long format (one row per year × scope × family × measure) with numerator, denominator and coverage, so every
figure can be recomputed from ``marches``. Amounts are awarded amounts (for framework agreements often the
estimated maximum), not payments.
"""

from __future__ import annotations

import pandas as pd

from .buyer_scope import METHOD as SCOPE_METHOD
from .classify import METHOD_VERSION

TARGET_2_PERCENT = 0.02

# Scope name → which buyer categories it takes (None: every buyer).
SCOPES: dict[str, tuple[str, ...] | None] = {
    "etat": ("etat",),
    "tous_acheteurs": None,
}


def _measures(rows: pd.DataFrame) -> list[dict]:
    has_amount = rows["montant"].notna()
    declared = rows["marche_innovant_declare"]
    has_declared = declared.notna()
    innovative = rows["innovant"].fillna(False).astype(bool)
    declared_true = declared.fillna(False).astype(bool)
    total = len(rows)

    def share(name, unit, numerator, denominator, available):
        return {
            "mesure": name,
            "unite": unit,
            "numerateur": round(float(numerator), 2),
            "denominateur": round(float(denominator), 2),
            "valeur": round(numerator / denominator, 6) if denominator else None,
            "couverture": round(available / total, 6) if total else None,
        }

    return [
        share("part_nombre", "marches", innovative.sum(), total, rows["objet"].notna().sum()),
        share("part_montant", "euros", rows.loc[innovative & has_amount, "montant"].sum(),
              rows.loc[has_amount, "montant"].sum(), has_amount.sum()),
        share("part_nombre_declare", "marches", declared_true.sum(), has_declared.sum(), has_declared.sum()),
        share("part_montant_declare", "euros", rows.loc[declared_true & has_amount, "montant"].sum(),
              rows.loc[has_declared & has_amount, "montant"].sum(), (has_declared & has_amount).sum()),
    ]


def method_label() -> str:
    return (
        f"classification {METHOD_VERSION}; {SCOPE_METHOD}; montants attribues (maximums des accords-cadres), "
        "pas des paiements; *_declare = champ marcheInnovant auto-declare (DECP 2024)"
    )


def compute_indicators(marches: pd.DataFrame) -> pd.DataFrame:
    """Rows for each year present in ``marches`` (contracts without a notification date are not attributed)."""
    dated = marches[marches["annee"].notna()]
    records = []
    method = method_label()
    for scope, categories in SCOPES.items():
        in_scope = dated if categories is None else dated[dated["acheteur_categorie"].isin(categories)]
        for year, rows in in_scope.groupby("annee", sort=True):
            for measure in _measures(rows):
                records.append({
                    "annee": int(year),
                    "perimetre": scope,
                    "famille": "objet_innovant",
                    **measure,
                    "cible": TARGET_2_PERCENT,
                    "nb_marches": len(rows),
                    "methode": method,
                })
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        return frame
    return frame.sort_values(["annee", "perimetre", "famille", "mesure"], kind="stable").reset_index(drop=True)
