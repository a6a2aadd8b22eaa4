"""Ministry of a State buyer, from its name (SIRENE ``denominationUniteLegale`` or the DECP ``acheteur_nom``).

SIRENE does not record which ministry a State service belongs to; its name usually says it. The rules below
are keywords on the normalised name (lower case, no accents, apostrophes and punctuation as spaces, since
SIRENE writes "CONSEIL D ETAT" where the DECP write "Conseil d'État"), tried in order; the first match wins, so
the specific rules come first (SGDSN before Armées, Armées before Santé for "service de santé des armées", the
administrative courts before Justice for "tribunal administratif"). A name no rule matches gets no ministry:
it is never guessed.
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

# (ministry label, keywords). Keywords are matched as whole words (a trailing "*" allows any ending).
MINISTRY_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Services du Premier ministre", ("premier ministre", "sgg", "sgdsn",
                                      "secretariat general de la defense et de la securite nationale")),
    ("Conseil d'État (juridictions administratives)",
     ("conseil d'etat", "tribunal administratif", "cour administrative d'appel", "cour nationale du droit d'asile")),
    ("Armées", ("armees", "defense", "commissariat des armees", "service d'infrastructure de la defense", "dga",
                "direction generale de l'armement", "marine nationale", "armee de terre", "armee de l'air*")),
    ("Économie et finances", ("finances publiques", "douane*", "economie", "insee", "dgfip")),
    ("Intérieur", ("prefecture*", "interieur", "gendarmerie", "police")),
    ("Éducation nationale", ("academie", "rectorat", "education nationale")),
    ("Justice", ("justice", "penitentiaire*", "tribunal", "cour d'appel")),
    ("Agriculture", ("agriculture", "draaf", "ddpp")),
    ("Transition écologique", ("dreal", "ecologie", "transition ecologique", "dir",
                               "direction interdepartementale des routes")),
    ("Culture", ("culture", "drac", "musee*")),
    ("Santé", ("sante", "ars")),
    ("Travail", ("travail", "dreets", "direccte")),
    ("Europe et affaires étrangères", ("affaires etrangeres", "ambassade*", "consulat*")),
    ("Enseignement supérieur et recherche", ("enseignement superieur", "recherche")),
)

MINISTRIES = tuple(label for label, _ in MINISTRY_RULES)


def normalise_name(name: str) -> str:
    """Lower case, no accents, anything but letters and digits as one space ("Conseil d'État" → "conseil d etat")."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def _pattern(keywords: tuple[str, ...]) -> re.Pattern[str]:
    parts = [re.escape(normalise_name(k)) + (r"[a-z0-9]*" if k.endswith("*") else "") for k in keywords]
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(parts) + r")(?![a-z0-9])")


_COMPILED = tuple((label, _pattern(keywords)) for label, keywords in MINISTRY_RULES)


def ministry_of(name: object) -> str | None:
    """Ministry label of a State buyer's name, or None when no rule matches (or no name)."""
    if not isinstance(name, str) or not name.strip():
        return None
    text = normalise_name(name)
    for label, pattern in _COMPILED:
        if pattern.search(text):
            return label
    return None


def ministries_of(names: pd.Series) -> pd.Series:
    """Vectorised :func:`ministry_of`: each distinct name is matched once."""
    lookup = {name: ministry_of(name) for name in pd.unique(names.astype(object)) if isinstance(name, str)}
    return pd.Series([lookup.get(n) if isinstance(n, str) else None for n in names], index=names.index, dtype=object)
