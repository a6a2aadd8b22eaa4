"""Buyer category without SIRENE: the shipped reference table, then the first digits of the SIREN.

1. ``reference_acheteurs.csv`` (columns siren, nom, categorie, ministere, source) lists national bodies whose
   SIREN does not tell their status (ONERA, CEA, CNES… were numbered like private companies) or whose ministry
   the indicators need. It only holds entries whose SIREN was checked; ``source`` says where it comes from.
2. The SIREN prefix. INSEE numbers public bodies in the 1xx and 2xx ranges by type of body:

   * 11, 12, 13, 15, 16, 17 → ``etat`` (ministries and their services);
   * 18 → ``operateur_etat`` (établissements publics nationaux);
   * 19 → ``operateur_etat`` (universités, écoles nationales). Approximate: EPLE (collèges, lycées), which are
     local bodies, are numbered in 19 too;
   * 20–25 → ``collectivite`` (21 communes, 22 départements, 23 régions, 24 EPCI, 25 syndicats);
   * 26 → ``hopital`` (établissements publics locaux, mostly hospitals). Approximate: CCAS, EHPAD publics and other
     local public bodies are numbered in 26 too;
   * 27–29 → ``collectivite``;
   * anything else (private-law numbering, 10, 14) → ``autre``.

Each SIREN gets ``source`` ``reference`` or ``prefixe_siren``; a missing or malformed identifier is the
caller's ``inconnu``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from pipelines.sirene.categories import BUYER_CATEGORIES

REFERENCE_PATH = Path(__file__).with_name("reference_acheteurs.csv")
REFERENCE_COLUMNS = ("siren", "nom", "categorie", "ministere", "source")

PREFIX_CATEGORIES: dict[str, str] = {
    **{p: "etat" for p in ("11", "12", "13", "15", "16", "17")},
    "18": "operateur_etat",
    "19": "operateur_etat",
    **{p: "collectivite" for p in ("20", "21", "22", "23", "24", "25", "27", "28", "29")},
    "26": "hopital",
}


@functools.lru_cache(maxsize=4)
def load_reference(path: Path = REFERENCE_PATH) -> pd.DataFrame:
    """The reference table indexed by SIREN; a malformed table is refused with the file and line named."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} : table de référence des acheteurs illisible ({exc})") from exc
    missing = [c for c in REFERENCE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path} : colonnes manquantes dans la table de référence : {', '.join(missing)}")
    table = table[list(REFERENCE_COLUMNS)].apply(lambda col: col.str.strip())
    _check_reference(table, path)
    table["ministere"] = table["ministere"].where(table["ministere"] != "", None)
    return table.set_index("siren")


def _check_reference(table: pd.DataFrame, path: Path) -> None:
    # Line numbers as a reader sees them in an editor (header is line 1).
    lines = table.index + 2
    bad_siren = ~table["siren"].str.fullmatch(r"\d{9}")
    bad_category = ~table["categorie"].isin(BUYER_CATEGORIES)
    no_source = table["source"] == ""
    duplicated = table["siren"].duplicated(keep=False)
    for mask, problem in ((bad_siren, "SIREN de 9 chiffres attendu"),
                          (bad_category, f"categorie parmi {', '.join(BUYER_CATEGORIES)} attendue"),
                          (no_source, "source manquante"),
                          (duplicated, "SIREN en double")):
        if mask.any():
            raise ValueError(f"{path} : ligne(s) {', '.join(map(str, lines[mask]))} : {problem}")


def prefix_categories(sirens: pd.Series) -> pd.Series:
    """Buyer category from the first two digits of valid 9-digit SIRENs (``autre`` outside the public ranges)."""
    return sirens.astype(object).str[:2].map(PREFIX_CATEGORIES).fillna("autre").astype(object)


def fallback_scope(sirens: pd.Series, reference: Path = REFERENCE_PATH) -> pd.DataFrame:
    """Per valid SIREN: ``categorie``, ``source`` (reference / prefixe_siren) and the reference ``ministere``."""
    table = load_reference(reference)
    known = sirens.isin(table.index)
    out = pd.DataFrame(index=sirens.index)
    out["categorie"] = prefix_categories(sirens).where(~known, sirens.map(table["categorie"]))
    out["source"] = pd.Series("prefixe_siren", index=sirens.index, dtype=object).where(~known, "reference")
    out["ministere"] = sirens.map(table["ministere"]).astype(object).where(known, None)
    return out
