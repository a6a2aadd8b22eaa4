"""Mapping of the DECP vocabularies met in real files onto the 2024 (v2.0.x) vocabulary.

Sources: the official schemas (139bercy/format-commande-publique 1.5.0 and 2.0.3) and the variants listed in
reference/decp.md §2.4: v1.4 procedure labels, AIFE upper-case values, missing apostrophes, typos.

The mappings are remembered per text (values.memoised_on_text): a file repeats a handful of labels.
"""

from __future__ import annotations

from .values import clean_text, fold, memoised_on_text

PROCEDURES = (
    "Procédure adaptée",
    "Appel d'offres ouvert",
    "Appel d'offres restreint",
    "Procédure avec négociation",
    "Marché passé sans publicité ni mise en concurrence préalable",
    "Dialogue compétitif",
)
NO_PUBLICITY = PROCEDURES[4]

# Older labels (DECP 1.4, AIFE exports) that the 1.5 README maps onto the current values.
_PROCEDURE_ALIASES = {
    "procedure concurrentielle avec negociation": "Procédure avec négociation",
    "procedure negociee avec mise en concurrence prealable": "Procédure avec négociation",
    "procedure negociee avec publicite": "Procédure avec négociation",
    "marche negocie sans publicite ni mise en concurrence prealable": NO_PUBLICITY,
    "marche public negocie sans publicite ni mise en concurrence prealable": NO_PUBLICITY,
    "marche public negocie sans publicite ni mise en concurrence": NO_PUBLICITY,
    "marche passe sans publicite ni mise en concurrence": NO_PUBLICITY,
    "appel d offres ouvert": "Appel d'offres ouvert",
    "appel d offres restreint": "Appel d'offres restreint",
    "mapa": "Procédure adaptée",
}
_PROCEDURE_LOOKUP = {fold(v).replace("'", " "): v for v in PROCEDURES} | _PROCEDURE_ALIASES

NATURES = ("Marché", "Marché de partenariat", "Marché de défense ou de sécurité")
# 2019 natures that the 2024 format moved to `techniques` (Accord-cadre) or `modalitesExecution`
# (marchés subséquents, which have no `techniques` value of their own).
_NATURE_TO_TECHNIQUE = {
    "accord cadre": "Accord-cadre",
    "marche subsequent": None,
}
_NATURE_LOOKUP = {fold(v): v for v in NATURES} | {"marche public": "Marché", "marches": "Marché"}

CONCESSION_NATURES = (
    "Concession de travaux",
    "Concession de service",
    "Concession de service public",
    "Délégation de service public",
)
_CONCESSION_NATURE_LOOKUP = {fold(v): v for v in CONCESSION_NATURES}

LOCATION_TYPES = (
    "Code postal",
    "Code commune",
    "Code arrondissement",
    "Code canton",
    "Code département",
    "Code région",
    "Code pays",
)
_LOCATION_LOOKUP = {fold(v): v for v in LOCATION_TYPES}


def _procedure_key(text: str) -> str:
    return fold(text).replace("'", " ").replace("  ", " ")


@memoised_on_text
def normalize_procedure(value: object) -> tuple[str | None, str | None]:
    text = clean_text(value)
    if text is None:
        return None, None
    if text in PROCEDURES:
        return text, None
    canonical = _PROCEDURE_LOOKUP.get(_procedure_key(text))
    if canonical is None:
        return None, "procedure_inconnue"
    return canonical, "procedure_libelle_ancien"


@memoised_on_text
def normalize_nature(value: object) -> tuple[str | None, str | None, str | None]:
    """Returns (nature, technique implied by a 2019 nature, anomaly)."""
    text = clean_text(value)
    if text is None:
        return None, None, None
    if text in NATURES:
        return text, None, None
    key = fold(text)
    if key in _NATURE_TO_TECHNIQUE:
        return "Marché", _NATURE_TO_TECHNIQUE[key], "nature_2019"
    if key in _NATURE_LOOKUP:
        return _NATURE_LOOKUP[key], None, "nature_casse"
    return None, None, "nature_inconnue"


@memoised_on_text
def is_concession_nature(value: object) -> bool:
    text = clean_text(value)
    return text is not None and fold(text) in _CONCESSION_NATURE_LOOKUP


@memoised_on_text
def normalize_concession_nature(value: object) -> tuple[str | None, str | None]:
    text = clean_text(value)
    if text is None:
        return None, None
    canonical = _CONCESSION_NATURE_LOOKUP.get(fold(text))
    if canonical is None:
        return None, "nature_inconnue"
    return canonical, None if canonical == text else "nature_casse"


@memoised_on_text
def normalize_location_type(value: object) -> tuple[str | None, str | None]:
    text = clean_text(value)
    if text is None:
        return None, None
    if text in LOCATION_TYPES:
        return text, None
    canonical = _LOCATION_LOOKUP.get(fold(text))
    if canonical is None:
        return text, "type_code_lieu_inconnu"
    return canonical, "type_code_lieu_casse"


PRICE_FORMS = ("Unitaire", "Forfaitaire", "Mixte")
PRICE_TYPES = ("Définitif ferme", "Définitif actualisable", "Définitif révisable", "Provisoire")
# The 2019 `formePrix` described price variation, which the 2024 format moved to `typesPrix`.
_PRICE_FORM_2019 = {
    "ferme": "Définitif ferme",
    "ferme et actualisable": "Définitif actualisable",
    "actualisable": "Définitif actualisable",
    "revisable": "Définitif révisable",
}
_PRICE_FORM_LOOKUP = {fold(v): v for v in PRICE_FORMS}
_PRICE_TYPE_LOOKUP = {fold(v): v for v in PRICE_TYPES} | _PRICE_FORM_2019


@memoised_on_text
def normalize_price_form(value: object) -> tuple[str | None, str | None, str | None]:
    """Returns (formePrix 2024, price type implied by a 2019 formePrix, anomaly)."""
    text = clean_text(value)
    if text is None:
        return None, None, None
    key = fold(text)
    if key in _PRICE_FORM_LOOKUP:
        canonical = _PRICE_FORM_LOOKUP[key]
        return canonical, None, None if canonical == text else "forme_prix_casse"
    if key in _PRICE_FORM_2019:
        return None, _PRICE_FORM_2019[key], "forme_prix_2019"
    return None, None, "forme_prix_inconnue"


@memoised_on_text
def normalize_price_type(value: str) -> str | None:
    return _PRICE_TYPE_LOOKUP.get(fold(value))
