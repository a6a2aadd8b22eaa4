"""Enrichment of the normalised tables: buyer scope and ministry, supplier size, amount hygiene.

The SIRENE stock (pipelines/sirene) is used when it has been downloaded (ACHATS_SIRENE_PATH); otherwise the
documented offline fallback, flagged on every row (`acheteur_categorie_source`, `categorie_entreprise_source`).
"""

from __future__ import annotations

import pandas as pd

from .indicators import amount_outlier
from .sirene import buyer_scope, supplier_size
from .sirene.stock import available_stock


def enrich_marches(marches: pd.DataFrame) -> pd.DataFrame:
    out = marches.copy()
    names = out["acheteur_nom"] if "acheteur_nom" in out else None
    scope = buyer_scope(out["acheteur_id"], names, stock=available_stock())
    out["acheteur_categorie"] = scope["acheteur_categorie"].to_numpy()
    out["acheteur_categorie_source"] = scope["acheteur_categorie_source"].to_numpy()
    out["ministere"] = scope["ministere"].to_numpy()
    if names is not None:
        # The 2024 format gives only a SIRET: SIRENE's name fills the gap, never replaces a published one.
        published = out["acheteur_nom"].astype("string").str.strip().replace("", pd.NA)
        out["acheteur_nom"] = published.fillna(scope["acheteur_nom_sirene"].astype("string")).to_numpy()
    out["montant_aberrant"] = amount_outlier(out["montant"]).to_numpy()
    return out


def enrich_titulaires(titulaires: pd.DataFrame) -> pd.DataFrame:
    out = titulaires.copy()
    size = supplier_size(out["titulaire_id"], stock=available_stock())
    out["categorie_entreprise"] = size["categorie_entreprise"].to_numpy()
    out["categorie_entreprise_source"] = size["categorie_entreprise_source"].to_numpy()
    return out
