"""SIRENE legal category (``categorieJuridiqueUniteLegale``) → buyer category of the indicators.

Source: INSEE, nomenclature « Catégories juridiques » (catégories juridiques des unités légales du répertoire
Sirene), niveau III (4-digit codes), https://www.insee.fr/fr/information/2028129.

The five buyer categories follow the scope of the historical 2 % target ("l'État, ses opérateurs et les
hôpitaux", reference/decp.md §1.5), so State operators and hospitals are listed explicitly:

* ``etat`` — administration de l'État (71xx): 7111 autorité constitutionnelle, 7112 autorité administrative ou
  publique indépendante, 7113 ministère, 7120 service central d'un ministère, 7150 service du ministère de la
  Défense, 7160 service déconcentré à compétence nationale (hors Défense), 7171 / 7172 / 7179 services
  déconcentrés de l'État à compétence (inter)régionale, (inter)départementale ou territoriale, 7190 école
  nationale non dotée de la personnalité morale; any other 71xx code.
* ``operateur_etat`` — établissements publics nationaux: 7382 EP national ayant fonction d'administration
  centrale, 7383 EP national à caractère scientifique, culturel et professionnel (EPSCP), 7384 autre EP national
  d'enseignement, 7385 autre EP national administratif à compétence territoriale limitée, 7389 EP national à
  caractère administratif (EPA, EPST), 4110 / 4120 EPIC nationaux (avec / sans comptable public), 4130 exploitant
  public, 7450 EPA, cercle et foyer dans les armées.
* ``hopital`` — 7364 établissement d'hospitalisation, 7365 syndicat inter-hospitalier, 7470 groupement de
  coopération sanitaire à gestion publique.
* ``collectivite`` — collectivités territoriales (72xx): 7210 commune, 7220 département, 7225 collectivité et
  territoire d'outre-mer, 7229 autre collectivité territoriale, 7230 région; any other 72xx code;
  établissements publics locaux and groupings 7312–7379 except 7364/7365: 7312 commune associée ou déléguée,
  7313 section de commune, 7314 ensemble urbain, 7321 association syndicale autorisée, 7322 association foncière
  urbaine, 7323 association foncière de remembrement, 7331 établissement public local d'enseignement (EPLE),
  7340 pôle métropolitain, 7341 secteur de commune, 7342 district urbain, 7343 communauté urbaine, 7344
  métropole, 7345 SIVOM, 7346 communauté de communes, 7347 communauté de villes, 7348 communauté
  d'agglomération, 7349 autre établissement public local de coopération, 7351 institution interdépartementale,
  7352 institution interrégionale, 7353 SIVU, 7354 syndicat mixte fermé, 7355 syndicat mixte ouvert, 7356
  commission syndicale de biens indivis, 7357 PETR, 7361 CCAS, 7362 caisse des écoles, 7363 caisse de crédit
  municipal, 7366 établissement public local social et médico-social, 7367 CIAS, 7371 office public de
  l'habitat, 7372 SDIS, 7373 établissement public local culturel, 7378 régie administrative d'une collectivité,
  7379 autre EPA local; any other code from 7312 to 7379; 4140 EPIC local, 4150 régie industrielle ou
  commerciale d'une collectivité.
* ``autre`` — everything else, notably 7381 organisme consulaire, 7410 GIP, 7430 établissement public des cultes
  d'Alsace-Lorraine, 7490 autre personne morale de droit administratif, 4160 Banque de France, the social
  security bodies (8xxx) and every private-law category (1000–6999, 9xxx).

Codes missing from :data:`LEGAL_CATEGORIES` fall back on the ranges above (71xx, 72xx, 7312–7379), so a code
INSEE adds later inside those ranges is still classified; anything else is ``autre``.
"""

from __future__ import annotations

import pandas as pd

BUYER_CATEGORIES = ("etat", "operateur_etat", "hopital", "collectivite", "autre")

# code → (INSEE label, buyer category). Only codes that are not ``autre`` are listed.
LEGAL_CATEGORIES: dict[str, tuple[str, str]] = {
    "7111": ("Autorité constitutionnelle", "etat"),
    "7112": ("Autorité administrative ou publique indépendante", "etat"),
    "7113": ("Ministère", "etat"),
    "7120": ("Service central d'un ministère", "etat"),
    "7150": ("Service du ministère de la Défense", "etat"),
    "7160": ("Service déconcentré à compétence nationale d'un ministère (hors Défense)", "etat"),
    "7171": ("Service déconcentré de l'État à compétence (inter) régionale", "etat"),
    "7172": ("Service déconcentré de l'État à compétence (inter) départementale", "etat"),
    "7179": ("(Autre) Service déconcentré de l'État à compétence territoriale", "etat"),
    "7190": ("École nationale non dotée de la personnalité morale", "etat"),
    "7382": ("Établissement public national ayant fonction d'administration centrale", "operateur_etat"),
    "7383": ("Établissement public national à caractère scientifique culturel et professionnel", "operateur_etat"),
    "7384": ("Autre établissement public national d'enseignement", "operateur_etat"),
    "7385": ("Autre établissement public national administratif à compétence territoriale limitée",
             "operateur_etat"),
    "7389": ("Établissement public national à caractère administratif", "operateur_etat"),
    "4110": ("Établissement public national à caractère industriel ou commercial doté d'un comptable public",
             "operateur_etat"),
    "4120": ("Établissement public national à caractère industriel ou commercial non doté d'un comptable public",
             "operateur_etat"),
    "4130": ("Exploitant public", "operateur_etat"),
    "7450": ("Établissement public administratif, cercle et foyer dans les armées", "operateur_etat"),
    "7364": ("Établissement d'hospitalisation", "hopital"),
    "7365": ("Syndicat inter hospitalier", "hopital"),
    "7470": ("Groupement de coopération sanitaire à gestion publique", "hopital"),
    "7210": ("Commune et commune nouvelle", "collectivite"),
    "7220": ("Département", "collectivite"),
    "7225": ("Collectivité et territoire d'Outre Mer", "collectivite"),
    "7229": ("(Autre) Collectivité territoriale", "collectivite"),
    "7230": ("Région", "collectivite"),
    "7312": ("Commune associée et commune déléguée", "collectivite"),
    "7313": ("Section de commune", "collectivite"),
    "7314": ("Ensemble urbain", "collectivite"),
    "7321": ("Association syndicale autorisée", "collectivite"),
    "7322": ("Association foncière urbaine", "collectivite"),
    "7323": ("Association foncière de remembrement", "collectivite"),
    "7331": ("Établissement public local d'enseignement", "collectivite"),
    "7340": ("Pôle métropolitain", "collectivite"),
    "7341": ("Secteur de commune", "collectivite"),
    "7342": ("District urbain", "collectivite"),
    "7343": ("Communauté urbaine", "collectivite"),
    "7344": ("Métropole", "collectivite"),
    "7345": ("Syndicat intercommunal à vocation multiple (SIVOM)", "collectivite"),
    "7346": ("Communauté de communes", "collectivite"),
    "7347": ("Communauté de villes", "collectivite"),
    "7348": ("Communauté d'agglomération", "collectivite"),
    "7349": ("Autre établissement public local de coopération non spécialisé ou entente", "collectivite"),
    "7351": ("Institution interdépartementale ou entente", "collectivite"),
    "7352": ("Institution interrégionale ou entente", "collectivite"),
    "7353": ("Syndicat intercommunal à vocation unique (SIVU)", "collectivite"),
    "7354": ("Syndicat mixte fermé", "collectivite"),
    "7355": ("Syndicat mixte ouvert", "collectivite"),
    "7356": ("Commission syndicale pour la gestion des biens indivis des communes", "collectivite"),
    "7357": ("Pôle d'équilibre territorial et rural (PETR)", "collectivite"),
    "7361": ("Centre communal d'action sociale", "collectivite"),
    "7362": ("Caisse des écoles", "collectivite"),
    "7363": ("Caisse de crédit municipal", "collectivite"),
    "7366": ("Établissement public local social et médico-social", "collectivite"),
    "7367": ("Centre intercommunal d'action sociale (CIAS)", "collectivite"),
    "7371": ("Office public d'habitation à loyer modéré (OPHLM)", "collectivite"),
    "7372": ("Service départemental d'incendie et de secours (SDIS)", "collectivite"),
    "7373": ("Établissement public local culturel", "collectivite"),
    "7378": ("Régie d'une collectivité locale à caractère administratif", "collectivite"),
    "7379": ("(Autre) Établissement public administratif local", "collectivite"),
    "4140": ("Établissement public local à caractère industriel ou commercial", "collectivite"),
    "4150": ("Régie d'une collectivité locale à caractère industriel ou commercial", "collectivite"),
}


def _by_range(code: str) -> str:
    # Codes INSEE may add later inside a family keep the family's category.
    if code.startswith("71"):
        return "etat"
    if code.startswith("72") or (code.isdigit() and 7312 <= int(code) <= 7379):
        return "collectivite"
    return "autre"


def normalise_code(value: object) -> str | None:
    """The 4-digit code as text; Parquet files may store it as an integer or a float ("7120.0")."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    if text.endswith(".0"):
        text = text[:-2]
    return text if len(text) == 4 and text.isdigit() else None


def buyer_category(code: object) -> str:
    """Buyer category of one legal category code; ``autre`` when the code is missing or private law."""
    text = normalise_code(code)
    if text is None:
        return "autre"
    known = LEGAL_CATEGORIES.get(text)
    return known[1] if known else _by_range(text)


def buyer_categories(codes: pd.Series) -> pd.Series:
    """Vectorised :func:`buyer_category`: each distinct code is classified once."""
    distinct = pd.unique(codes.astype(object))
    lookup = {code: buyer_category(code) for code in distinct}
    return codes.astype(object).map(lookup).astype(object)
