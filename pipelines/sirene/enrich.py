"""Buyer scope and supplier size for the indicators, from SIRENE when the stock is there, else the fallback.

Both functions work on the distinct SIRENs (a national DECP year has ~1.5 M rows but a few tens of thousands of
buyers and a few hundred thousand suppliers), then map the answers back onto the rows, keeping the input index.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.arrow_codes import dictionary_codes
from pipelines.sirene import fallback
from pipelines.sirene.categories import buyer_categories
from pipelines.sirene.ministeres import ministries_of
from pipelines.sirene.stock import lookup

BUYER_COLUMNS = ("acheteur_categorie", "acheteur_categorie_source", "acheteur_nom_sirene", "ministere")
SUPPLIER_COLUMNS = ("categorie_entreprise", "categorie_entreprise_source")
ENTERPRISE_CATEGORIES = ("PME", "ETI", "GE")
# Separators seen inside identifiers in the wild: spaces, no-break spaces, dots.
_ID_NOISE = r"[\s\u00a0\u202f.]"


def siren_of(ids: pd.Series) -> pd.Series:
    """The 9-digit SIREN of each SIRET (14 digits) or SIREN (9 digits); None for anything else."""
    text = ids.astype(object).where(ids.notna(), "").astype(str).str.replace(_ID_NOISE, "", regex=True)
    valid = text.str.fullmatch(r"\d{9}|\d{14}") & ~text.str.fullmatch(r"0+")
    return text.str[:9].where(valid, None).astype(object)


def _usable_stock(stock: Path | None) -> Path | None:
    return Path(stock) if stock is not None and Path(stock).is_file() else None


def _as_object(values: pd.Series) -> pd.Series:
    """Object column with None for missing values (pandas would otherwise mix NaN and None)."""
    values = values.astype(object)
    return values.where(values.notna(), None)


def _distinct(ids: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Row → position in the distinct identifiers (in order of first appearance); the last distinct value (None)
    stands for missing ones."""
    found = dictionary_codes(ids)  # Arrow-backed ids: no Python object per row (a national million: 1 s)
    codes, uniques = (found[0], found[1].to_pylist()) if found is not None else pd.factorize(ids.astype(object))
    return np.where(codes < 0, len(uniques), codes), pd.Series([*uniques, None], dtype=object)


def _expand(per_id: pd.DataFrame, codes: np.ndarray, index: pd.Index) -> pd.DataFrame:
    rows = per_id.iloc[codes]
    rows.index = index
    return rows


def _sirene_buyers(sirens: pd.Index, stock: Path) -> pd.DataFrame:
    found = lookup(sirens, stock)
    found = found[found["categorieJuridiqueUniteLegale"].notna()].drop_duplicates("siren").set_index("siren")
    return pd.DataFrame({"categorie": buyer_categories(found["categorieJuridiqueUniteLegale"]),
                         "nom_sirene": found["denominationUniteLegale"]}, index=found.index)


def _scope_by_siren(sirens: pd.Index, stock: Path | None) -> pd.DataFrame:
    """One row per distinct SIREN: categorie, source, ministere (reference table), nom_sirene."""
    per_siren = fallback.fallback_scope(pd.Series(sirens, index=sirens, dtype=object))
    per_siren["nom_sirene"] = None
    if stock is not None and len(sirens):
        sirene = _sirene_buyers(sirens, stock)
        per_siren.loc[sirene.index, "categorie"] = sirene["categorie"]
        per_siren.loc[sirene.index, "source"] = "sirene"
        per_siren.loc[sirene.index, "nom_sirene"] = sirene["nom_sirene"]
    return per_siren


def _scope_by_id(ids: pd.Series, stock: Path | None) -> pd.DataFrame:
    """The output columns for distinct raw identifiers, ministry from the reference or the SIRENE name only."""
    sirens = siren_of(ids)
    per_siren = _scope_by_siren(pd.Index(sirens.dropna().unique(), dtype=object), stock)
    valid = sirens.notna()
    out = pd.DataFrame(index=ids.index)
    out["acheteur_categorie"] = _as_object(sirens.map(per_siren["categorie"]).where(valid, "autre"))
    out["acheteur_categorie_source"] = _as_object(sirens.map(per_siren["source"]).where(valid, "inconnu"))
    out["acheteur_nom_sirene"] = _as_object(sirens.map(per_siren["nom_sirene"]))
    ministry = _as_object(sirens.map(per_siren["ministere"]))
    state = (out["acheteur_categorie"] == "etat") & ministry.isna()
    ministry[state] = ministries_of(out.loc[state, "acheteur_nom_sirene"])
    out["ministere"] = _as_object(ministry)
    return out


def buyer_scope(sirets: pd.Series, names: pd.Series | None = None, stock: Path | None = None) -> pd.DataFrame:
    """Buyer category, its source, SIRENE name and ministry of each row (same index as ``sirets``).

    ``acheteur_categorie_source`` is ``sirene`` (the stock knows the SIREN), ``reference`` (shipped table),
    ``prefixe_siren`` (first digits of the SIREN) or ``inconnu`` (no valid SIRET/SIREN: category ``autre``).
    ``ministere`` comes from the reference table, else, for ``etat`` buyers only, from the name rules applied to
    the SIREN's SIRENE name, then to ``names`` when the SIRENE name says nothing; it stays None when no rule
    matches.
    """
    codes, distinct = _distinct(sirets)
    out = _expand(_scope_by_id(distinct, _usable_stock(stock)), codes, sirets.index)
    if names is not None:
        # SIRENE names are sometimes bare ("SERVICE ADMINISTRATIF"); the DECP name may still say the ministry.
        left = (out["acheteur_categorie"] == "etat") & out["ministere"].isna()
        if left.any():
            out.loc[left, "ministere"] = ministries_of(names.reindex(out.index).astype(object)[left])
            out["ministere"] = _as_object(out["ministere"])
    return out


def supplier_size(ids: pd.Series, stock: Path | None = None) -> pd.DataFrame:
    """SIRENE ``categorieEntreprise`` (PME / ETI / GE) of each supplier (same index as ``ids``).

    ``categorie_entreprise_source`` is ``sirene`` when the stock gives a category, else ``inconnu`` (no stock,
    SIREN not in the stock or without category, foreign or VAT identifier).
    """
    codes, distinct = _distinct(ids)
    sirens = siren_of(distinct)
    size = pd.Series(None, index=distinct.index, dtype=object)
    stock = _usable_stock(stock)
    if stock is not None and sirens.notna().any():
        found = lookup(sirens.dropna().unique(), stock).drop_duplicates("siren").set_index("siren")
        category = found["categorieEntreprise"].where(found["categorieEntreprise"].isin(ENTERPRISE_CATEGORIES))
        size = sirens.map(category)
    per_id = pd.DataFrame({"categorie_entreprise": _as_object(size)})
    per_id["categorie_entreprise_source"] = _as_object(
        pd.Series("inconnu", index=per_id.index, dtype=object).where(per_id["categorie_entreprise"].isna(), "sirene"))
    return _expand(per_id, codes, ids.index)
