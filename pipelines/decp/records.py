"""One raw DECP record (any format, any version, messy or not) → one flat, normalised row.

Rows keep private keys (leading underscore) that consolidation needs: the supplier list, the date of the latest
modification and the set of anomaly codes. A record that cannot identify a contract raises RecordRejected.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator

from .readers import CONCESSION, MARCHE, parse_embedded
from .values import (
    clean_label,
    clean_text,
    is_missing,
    parse_amount,
    parse_bool,
    parse_cpv,
    parse_date,
    parse_identifier,
    parse_int,
)
from .vocabulary import (
    is_concession_nature,
    normalize_concession_nature,
    normalize_location_type,
    normalize_nature,
    normalize_price_form,
    normalize_price_type,
    normalize_procedure,
)


_UNKNOWN = object()


class RecordRejected(Exception):
    def __init__(self, motif: str, detail: str, identifiant: str | None = None):
        super().__init__(detail)
        self.motif = motif
        self.detail = detail
        self.identifiant = identifiant


def _maybe_padded_key(record: dict) -> bool:
    """False when no key holds any whitespace (so none is padded); one C-level split instead of a Python loop."""
    try:
        joined = "\x00".join(record)
    except TypeError:  # a key that is not text: take the slow path
        return True
    return joined.split() != [joined]


def get(record: dict, *names: str, plain: bool = False) -> object:
    """First present value among ``names``; keys are also matched after stripping (``"nom "`` exists).
    ``plain``: the caller knows that no key of the record holds whitespace (``_maybe_padded_key`` said so once)."""
    for name in names:
        value = record.get(name)
        if value is not None and not is_missing(value):
            return value
    if plain or not _maybe_padded_key(record):
        return None  # stripping would change no key: the names were looked up already
    stripped = None
    for name in names:
        if stripped is None:
            stripped = {k.strip(): v for k, v in record.items() if isinstance(k, str)}
        value = stripped.get(name)
        if not is_missing(value):
            return value
    return None


def record_kind(kind: str | None, record: dict) -> str:
    """2019 files mix contracts and concessions in one list; the record's own fields tell which is which."""
    if kind is not None:
        return kind
    declared = (clean_text(record.get("_type")) or "").casefold()
    if "concession" in declared:
        return CONCESSION
    if declared.startswith("march"):
        return MARCHE
    # Semi-flattened files carry every column for every record (``valeurGlobale: 0.0`` on contracts).
    if get(record, "autoriteConcedante", "concessionnaires") is not None or is_concession_nature(record.get("nature")):
        return CONCESSION
    return MARCHE


# "Value written as text" is only a defect in JSON: in XML and CSV every value is text.
_JSON_ONLY_ANOMALIES = frozenset({"montant_texte", "nombre_texte", "modifications_texte", "lieu_execution_texte"})


class _Anomalies(set):
    """The anomaly codes of a row read from JSON. No instance attribute (``textual`` is the class's): set's own
    reduce pickles it at C speed, and rows travel between processes and to the cache by the million."""

    __slots__ = ()
    textual = False

    def add(self, code: str) -> None:
        if not (self.textual and code in _JSON_ONLY_ANOMALIES):
            super().add(code)

    def note(self, pair: tuple) -> object:
        if len(pair) == 2:  # (value, anomaly): every parser but one
            value, anomaly = pair
            if anomaly:
                self.add(anomaly)
            return value
        *values, anomaly = pair
        if anomaly:
            self.add(anomaly)
        return values[0] if len(values) == 1 else tuple(values)


class _TextualAnomalies(_Anomalies):
    """The anomaly codes of a row read from XML or CSV, where every value is text."""

    __slots__ = ()
    textual = True


def _mapping(value: object, anomalies: _Anomalies, code: str) -> dict:
    value, was_text = parse_embedded(value)
    if was_text:
        anomalies.add(code)
    return value if isinstance(value, dict) else {}


def _items(value: object, wrappers: tuple[str, ...] = ()) -> Iterator[dict]:
    """Flatten DECP lists: plain lists, ``{"titulaire": …}`` wrappers, lists of lists, single objects."""
    value, _ = parse_embedded(value)
    if isinstance(value, list):
        for item in value:
            yield from _items(item, wrappers)
    elif isinstance(value, dict):
        for wrapper in wrappers:
            if wrapper in value and len(value) == 1:
                yield from _items(value[wrapper], wrappers)
                return
        yield value


def _strings(value: object, wrappers: tuple[str, ...]) -> list[str]:
    value, _ = parse_embedded(value)
    if isinstance(value, dict):
        for wrapper in wrappers:
            if wrapper in value:
                return _strings(value[wrapper], wrappers)
        return [s for v in value.values() for s in _strings(v, wrappers)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v, wrappers)]
    text = clean_text(value)
    return [text] if text else []


def _not_embedded(text: str) -> bool:
    head = text.lstrip()
    return not head or head[0] not in "[{"


def _labels(value: object, wrapper: str) -> list[str]:
    """``_strings(value, (wrapper,))``, without the generic walk for the usual shapes (a list of texts, alone or
    in its wrapper)."""
    inner = value[wrapper] if value.__class__ is dict and wrapper in value else value
    if inner.__class__ is list:
        for text in inner:
            if text.__class__ is not str or not _not_embedded(text):
                break
        else:
            return [text for text in map(clean_label, inner) if text]
    return _strings(value, (wrapper,))


_PARTY_WRAPPERS = ("titulaire", "concessionnaire")
_PARTY_FIELDS = frozenset({"id", "typeIdentifiant", "denominationSociale", "nom"})
_PARTY_MEMO: dict[tuple, tuple | None] = {}
MAX_REMEMBERED_PARTIES = 200_000


def _party(party: dict) -> tuple[str | None, str | None, str | None] | None:
    ident = parse_identifier(get(party, "id"))
    name = clean_text(get(party, "denominationSociale", "nom"))
    if ident is None and name is None:
        return None
    return ident, clean_label(get(party, "typeIdentifiant")), name


def _plain_party(item: object) -> tuple[str | None, ...] | None:
    """The raw (id, typeIdentifiant, denominationSociale, nom) of a list item of the usual shapes (a party, or a
    party in its wrapper), all text or absent; None when the generic walk must decide."""
    if item.__class__ is not dict:
        return None
    if len(item) == 1:
        for wrapper in _PARTY_WRAPPERS:
            if wrapper in item:
                item = item[wrapper]
                if item.__class__ is not dict:
                    return None
                break
    if not item.keys() <= _PARTY_FIELDS:
        return None
    key = (item.get("id"), item.get("typeIdentifiant"), item.get("denominationSociale"), item.get("nom"))
    for value in key:
        if value is not None and value.__class__ is not str:
            return None
    return key


def parties(value: object) -> list[tuple[str | None, str | None, str | None]]:
    """Suppliers as (id, typeIdentifiant, name), in published order, without empty entries."""
    if value.__class__ is list:
        # Lists of plain parties (nearly all): each party's tuple remembered, the walk below for anything else.
        keys = [_plain_party(item) for item in value]
        if None not in keys:
            found = []
            for key in keys:
                party = _PARTY_MEMO.get(key, _UNKNOWN)
                if party is _UNKNOWN:
                    party = _party(dict(zip(("id", "typeIdentifiant", "denominationSociale", "nom"), key)))
                    if len(_PARTY_MEMO) < MAX_REMEMBERED_PARTIES:
                        _PARTY_MEMO[key] = party
                if party is not None:
                    found.append(party)
            return found
    found = []
    for party in _items(value, _PARTY_WRAPPERS):
        party = _party(party)
        if party is not None:
            found.append(party)
    return found


def _flat_party(record: dict, prefix: str) -> list[tuple[str | None, str | None, str | None]]:
    """Semi-flattened consolidations keep one supplier in ``titulaire_id`` / ``titulaire_denominationSociale``."""
    ident = parse_identifier(get(record, f"{prefix}_id"))
    name = clean_text(get(record, f"{prefix}_denominationSociale", f"{prefix}_nom"))
    if ident is None and name is None:
        return []
    return [(ident, clean_text(get(record, f"{prefix}_typeIdentifiant")), name)]


def modifications(value: object, anomalies: _Anomalies) -> list[dict]:
    if value is None or value == []:
        return []
    raw, was_text = parse_embedded(value)
    if was_text:
        anomalies.add("modifications_texte")
    mods = list(_items(raw, ("modification",)))
    for mod in mods:
        if "modification" in mod and isinstance(mod["modification"], dict):
            mod.update(mod.pop("modification"))

    def number(mod: dict) -> int | None:
        return parse_int(get(mod, "id"))[0]

    def date(mod: dict) -> dt.date:
        parsed, _ = parse_date(get(mod, "dateNotificationModification", "dateSignatureModification"))
        return parsed or dt.date.min

    # The 2024 format numbers modifications in sequence, which beats dates (missing or in odd formats);
    # 2019 modifications have no number and are ordered by date.
    if mods and all(number(mod) is not None for mod in mods):
        return sorted(mods, key=lambda mod: (number(mod), date(mod)))
    return sorted(mods, key=lambda mod: (date(mod), number(mod) or 0))


_FLAT_BUYER_KEYS = {key: ((f"{key}_id", f"{key}.id"), (f"{key}_nom", f"{key}.nom"))
                     for key in ("acheteur", "autoriteConcedante")}


def _buyer(record: dict, key: str, plain: bool = False) -> tuple[str | None, str | None]:
    """``plain``: no key of the record holds whitespace (lookups need not strip them)."""
    buyer = record.get(key)
    buyer, _ = parse_embedded(buyer)
    if isinstance(buyer, dict):
        ident, name = get(buyer, "id"), get(buyer, "nom")
    else:
        ident, name = buyer if not isinstance(buyer, list) else None, None
    flat_id, flat_name = _FLAT_BUYER_KEYS[key]
    if ident is None:
        ident = get(record, *flat_id, plain=plain)
    if name is None:
        name = get(record, *flat_name, plain=plain)
    return parse_identifier(ident), clean_label(name)


def _contract_id(value: object) -> str | None:
    if isinstance(value, bool) or isinstance(value, (dict, list)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # ids typed as numbers by spreadsheets: 2019001.0 is "2019001"
    return clean_text(value)


def _identity(record: dict, buyer_key: str, kind_label: str, plain: bool = False
              ) -> tuple[str, str, str | None]:
    """(buyer id, contract id, buyer name)."""
    contract_id = _contract_id(record.get("id") if plain else get(record, "id"))
    buyer_id, buyer_name = _buyer(record, buyer_key, plain)
    if contract_id is None:
        hint = _contract_id(get(record, "uid"))
        raise RecordRejected("identifiant_manquant", f"{kind_label} sans identifiant (`id` vide)", hint)
    if buyer_id is None:
        raise RecordRejected("acheteur_manquant", f"{kind_label} sans SIRET d'acheteur", contract_id)
    return buyer_id, contract_id, buyer_name


# 50 years, the ceiling of the GX suite: longer is a typing error (days or an end year typed as months).
MAX_DURATION_MONTHS = 600


def _duration(value: object, anomalies: _Anomalies) -> int | None:
    months = anomalies.note(parse_int(value))
    if months is not None and months > MAX_DURATION_MONTHS:
        anomalies.add("duree_aberrante")
        return None
    return months


def _location(record: dict, anomalies: _Anomalies) -> tuple[str | None, str | None]:
    place = _mapping(record.get("lieuExecution"), anomalies, "lieu_execution_texte")
    code = clean_label(get(place, "code") if place else get(record, "lieuExecution.code", "lieuExecution_code"))
    kind = get(place, "typeCode") if place else get(record, "lieuExecution.typeCode", "lieuExecution_typeCode")
    return code, anomalies.note(normalize_location_type(kind))


def _start(record: object, buyer_key: str, label: str, textual: bool
           ) -> tuple[_Anomalies, str, str, str | None, bool]:
    """Checks shared by contracts and concessions: an object, an id, a buyer (whose SIRET shape is noted); the last
    item says whether the record's keys are plain (no whitespace: a field is then looked up by its name only)."""
    if not isinstance(record, dict):
        raise RecordRejected("enregistrement_non_objet", f"enregistrement de type {type(record).__name__}, objet attendu")
    plain = not _maybe_padded_key(record)
    notes = _TextualAnomalies() if textual else _Anomalies()
    buyer_id, contract_id, buyer_name = _identity(record, buyer_key, label, plain)
    if not (len(buyer_id) == 14 and buyer_id.isdigit()):
        notes.add("acheteur_siret_invalide")
    return notes, buyer_id, contract_id, buyer_name, plain


def _apply(mods: list[dict], amount_key: str, amount: float | None, duration: int | None, notes: _Anomalies,
           today: dt.date) -> tuple[float | None, int | None, dt.date | None]:
    """Current amount and duration after the modifications (in order), and the date of the latest one."""
    last_modification = None
    for mod in mods:
        new_amount = notes.note(parse_amount(get(mod, amount_key)))
        amount = new_amount if new_amount is not None else amount
        new_duration = _duration(get(mod, "dureeMois"), notes)
        duration = new_duration if new_duration is not None else duration
        mod_date = notes.note(parse_date(get(mod, "dateNotificationModification", "dateSignatureModification"), today))
        if mod_date is not None:
            last_modification = max(last_modification or mod_date, mod_date)
    return amount, duration, last_modification


def nature_and_techniques(nature: object, techniques: object, notes: _Anomalies) -> tuple[str | None, str | None]:
    """The contract's nature and its techniques joined by ``|`` (a 2019 nature can imply one: « Accord-cadre »)."""
    nature, implied_technique, nature_note = normalize_nature(nature)
    if nature_note:
        notes.add(nature_note)
    labels = _labels(techniques, "technique")
    if implied_technique:
        labels.insert(0, implied_technique)
    return nature, "|".join(dict.fromkeys(t for t in labels if t.casefold() != "sans objet")) or None


def price_form_and_types(form: object, types: object, notes: _Anomalies) -> tuple[str | None, str | None]:
    """The price form and the price types joined by ``|`` (a 2019 form can imply a type)."""
    price_form, implied_price_type, price_note = normalize_price_form(form)
    if price_note:
        notes.add(price_note)
    price_types = [implied_price_type] if implied_price_type else []
    for text in _labels(types, "typePrix"):
        canonical = normalize_price_type(text)
        if canonical is None:
            notes.add("type_prix_inconnu")
        elif canonical not in price_types:
            price_types.append(canonical)
    return price_form, "|".join(price_types) or None


def after_modifications(value: object, amount: float | None, duration: int | None, suppliers: list, notes: _Anomalies,
                        today: dt.date) -> tuple[float | None, int | None, list, int, dt.date | None]:
    """A contract's amount, duration and suppliers after its modifications (``value``, applied in order), their
    number and the date of the latest one."""
    mods = modifications(value, notes)
    last_modification = None
    if mods:
        amount, duration, last_modification = _apply(mods, "montant", amount, duration, notes, today)
    for mod in mods:
        suppliers = parties(mod.get("titulaires")) or suppliers
    return amount, duration, suppliers, len(mods), last_modification


_DECLARED = ("marcheInnovant", "marchesInnovant")  # DUME exports spell it with an s
_CPV_KEYS = ("codeCPV", "code_cpv")


def normalize_marche(record: object, today: dt.date, textual: bool = False) -> dict:
    """``textual``: the source format has no types (XML, CSV), so text values are not anomalies."""
    notes, buyer_id, contract_id, buyer_name, plain = _start(record, "acheteur", "marché", textual)
    # Every parser below takes a missing value ("NC", [], NaN…) as None, as ``get`` would have returned it: on a
    # plain record, a field is read with the dict's own lookup (``get`` only strips padded keys).
    field = record.get if plain else functools.partial(get, record)

    nature, techniques = nature_and_techniques(record.get("nature"), record.get("techniques", record.get("technique")),
                                               notes)
    price_form, price_types = price_form_and_types(field("formePrix"),
                                                   record.get("typesPrix", record.get("typePrix")), notes)

    suppliers = parties(record.get("titulaires")) or _flat_party(record, "titulaire")
    initial_amount = notes.note(parse_amount(field("montant")))
    amount = initial_amount
    initial_duration = _duration(field("dureeMois"), notes)
    duration = initial_duration
    amount, duration, suppliers, modified, last_modification = after_modifications(
        record.get("modifications"), amount, duration, suppliers, notes, today)

    location_code, location_type = _location(record, notes)
    declared = get(record, *_DECLARED, plain=plain)
    return {
        "uid": buyer_id + contract_id,
        "id": contract_id,
        "acheteur_id": buyer_id,
        "acheteur_nom": buyer_name,
        "objet": clean_text(field("objet")),
        "code_cpv": notes.note(parse_cpv(get(record, *_CPV_KEYS, plain=plain))),
        "procedure": notes.note(normalize_procedure(field("procedure"))),
        "nature": nature,
        "techniques": techniques,
        "montant": amount,
        "montant_initial": initial_amount,
        "date_notification": notes.note(parse_date(field("dateNotification"), today)),
        "duree_mois": duration,
        "date_publication_donnees": notes.note(parse_date(field("datePublicationDonnees"), today)),
        "lieu_execution_code": location_code,
        "lieu_execution_type": location_type,
        "forme_prix": price_form,
        "types_prix": price_types,
        "ccag": clean_label(field("ccag")),
        "offres_recues": notes.note(parse_int(field("offresRecues"))),
        "id_accord_cadre": clean_text(field("idAccordCadre")),
        "marche_innovant_declare": notes.note(parse_bool(declared)),
        "nb_modifications": modified,
        "_titulaires": suppliers,
        "_derniere_modification": last_modification,
        "_anomalies": notes,
    }


def normalize_concession(record: object, today: dt.date, textual: bool = False) -> dict:
    notes, authority_id, contract_id, authority_name, _ = _start(record, "autoriteConcedante", "concession", textual)
    value = notes.note(parse_amount(get(record, "valeurGlobale")))
    subsidy = notes.note(parse_amount(get(record, "montantSubventionPublique"), allow_zero=True))
    duration = _duration(get(record, "dureeMois"), notes)
    concessionaires = parties(record.get("concessionnaires"))
    mods = modifications(record.get("modifications"), notes)
    value, duration, last_modification = _apply(mods, "valeurGlobale", value, duration, notes, today)
    return {
        "uid": authority_id + contract_id,
        "id": contract_id,
        "autorite_concedante_id": authority_id,
        "autorite_concedante_nom": authority_name,
        "nature": notes.note(normalize_concession_nature(get(record, "nature"))),
        "objet": clean_text(get(record, "objet")),
        "procedure": clean_text(get(record, "procedure")),
        "valeur_globale": value,
        "montant_subvention_publique": subsidy,
        "date_signature": notes.note(parse_date(get(record, "dateSignature"), today)),
        "date_debut_execution": notes.note(parse_date(get(record, "dateDebutExecution"), today)),
        "date_publication_donnees": notes.note(parse_date(get(record, "datePublicationDonnees"), today)),
        "duree_mois": duration,
        "concessionnaires_ids": "|".join(p[0] for p in concessionaires if p[0]) or None,
        "nb_modifications": len(mods),
        "_derniere_modification": last_modification,
        "_anomalies": notes,
    }
