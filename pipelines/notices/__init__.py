"""Tender notices (BOAMP, TED) into rows of the ``avis`` table; shared pieces of the notice parsers.

Modules: ``boamp`` (Opendatasoft records whatever their ``source_schema``, DILA XML, retired DILA API JSON),
``ted`` (eForms UBL XML, legacy TED XML R2.0.x, TED v3 search rows), ``read`` (format detection and streaming
``read_notices``), ``dedup`` (one row per notice across sources).

A row is a dict whose keys are the ``avis`` columns (``schemas/avis.json``) except the three columns the
classifier adds (``innovant``, ``innovation_score``, ``innovation_signaux``), plus ``structured_signals``: the
``|``-separated signal codes (``pipelines/classify/signals.py``) read from structured fields of the notice
(procedure type, eForms BT-06/BT-776/BT-136, legacy TED elements), in the catalogue's publication order, "" if
none. Dates are ``datetime.date``, ``montant`` a float or None, ``nb_lots`` an int or None.

Everything here is pure: no file, network or clock access beyond ``date.today()`` for date plausibility.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from lxml import etree

from pipelines.classify.signals import ORDER, SIGNALS
from pipelines.decp.readers import UnreadableRecord
from pipelines.decp.values import clean_text, fold, is_missing, parse_amount, parse_cpv, parse_date

# Formats (column format_source), detected from the content.
BOAMP_ODS_JSON = "boamp-ods-json"
BOAMP_ODS_JSONL = "boamp-ods-jsonl"
BOAMP_DILA_XML = "boamp-dila-xml"
BOAMP_DILA_API_JSON = "boamp-dila-api-json"
TED_EFORMS_XML = "ted-eforms-xml"
TED_XML = "ted-xml"
TED_SEARCH_JSON = "ted-search-json"
NOTICE_FORMATS: tuple[str, ...] = (
    BOAMP_ODS_JSON, BOAMP_ODS_JSONL, BOAMP_DILA_XML, BOAMP_DILA_API_JSON, TED_EFORMS_XML, TED_XML, TED_SEARCH_JSON,
)

TYPES_AVIS: tuple[str, ...] = (
    "avis_marche", "avis_preinformation", "avis_attribution", "rectificatif", "annulation", "modification", "autre",
)

# The avis columns a parser fills (schema order), then the structured signals for the classifier.
ROW_COLUMNS: tuple[str, ...] = (
    "id_avis", "source", "type_avis", "date_publication", "acheteur_nom", "acheteur_id", "acheteur_pays", "objet",
    "code_cpv", "procedure", "nature_marche", "date_limite_reponse", "montant", "montant_nature", "nb_lots",
    "id_procedure", "reference_ted", "famille", "url", "format_source", "source_fichier", "anomalies",
    "structured_signals",
)

# Notices are published in Paris (BOAMP) and Luxembourg (TED): an instant is dated by the Paris calendar, so
# TED's "2022-02-06T23:00:00Z" is the OJ S issue of 7 February.
PARIS = ZoneInfo("Europe/Paris")

# A notice body (``donnees``) is a few kB to a few hundred kB; past this it is not a notice.
MAX_EMBEDDED_CHARS = 4 * 1024 * 1024
# One notice as a standalone XML/JSON file (TED eForms notices are 10-300 kB).
MAX_NOTICE_BYTES = 16 * 1024 * 1024
# Notice bodies nest about 12 levels deep (eForms UBL); far deeper is malformed or hostile.
MAX_DEPTH = 64

# Anomaly codes of value parsers that describe an ordinary notice format, not a repair.
_ORDINARY = frozenset({"date_avec_heure_ou_fuseau", "montant_texte", "nombre_texte"})

_DATE_PREFIX = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(.*)$", re.DOTALL)
_COMPACT_DATE = re.compile(r"^\s*(\d{4})(\d{2})(\d{2})\s*$")
_TED_NUMBER = re.compile(r"^\s*0*(\d{1,8})\s*-\s*(\d{4})\s*$")
_OJS_NUMBER = re.compile(r"(\d{4})\s*/\s*S\s*\d{1,3}\s*-\s*0*(\d{1,8})")


class NoticeRejected(Exception):
    """A notice that cannot become a row; ``motif`` is a code of the rejets table."""

    def __init__(self, motif: str, detail: str, identifiant: str | None = None):
        super().__init__(detail)
        self.motif = motif
        self.detail = detail
        self.identifiant = identifiant

    def unreadable(self) -> UnreadableRecord:
        return UnreadableRecord(self.detail, self.identifiant, self.motif)


@dataclass(frozen=True)
class NoticeRecord:
    """One notice read from a file.

    ``row`` holds ROW_COLUMNS (``source_fichier`` is the file name). When the notice could not be used,
    ``row`` is empty and ``rejet`` says why (motif, detail, identifiant when known), for the rejets table.
    """

    row: dict
    position: int
    format_source: str
    rejet: UnreadableRecord | None = None


# --- values ------------------------------------------------------------------------------------------------------


def to_date(value: object) -> tuple[dt.date | None, str | None]:
    """Calendar date of a notice value: ISO date (offset ignored), ISO instant (Paris day), ``YYYYMMDD``, epoch ms."""
    if isinstance(value, bool) or is_missing(value):
        return None, None
    if isinstance(value, (int, float)):
        try:  # the retired DILA API wrote epoch milliseconds
            day = dt.datetime.fromtimestamp(float(value) / 1000, tz=dt.timezone.utc).astimezone(PARIS).date()
        except (OverflowError, OSError, ValueError):
            return None, "date_invalide"
        return _plausible(day.isoformat())
    text = str(value).strip()
    compact = _COMPACT_DATE.match(text)
    if compact:
        return _plausible("-".join(compact.groups()))
    match = _DATE_PREFIX.match(text)
    if not match:
        return _plausible(text)  # French dd/mm/yyyy or invalid: parse_date says which
    year, month, day, rest = match.groups()
    iso = f"{year}-{int(month):02d}-{int(day):02d}"
    if rest[:1] in ("T", " ") and ":" in rest:
        try:
            instant = dt.datetime.fromisoformat(iso + "T" + rest[1:].strip())
        except ValueError:
            return _plausible(iso)
        if instant.tzinfo is not None:
            iso = instant.astimezone(PARIS).date().isoformat()
    return _plausible(iso)


def _plausible(text: str) -> tuple[dt.date | None, str | None]:
    day, anomaly = parse_date(text)
    return day, (None if anomaly in _ORDINARY else anomaly)


def ted_number(value: object) -> str | None:
    """TED publication number as in TED's URLs: ``00553508-2023`` and ``2023/S 177-553508`` → ``553508-2023``."""
    text = clean_text(value)
    if text is None:
        return None
    match = _TED_NUMBER.match(text)
    if match:
        return f"{int(match.group(1))}-{match.group(2)}"
    match = _OJS_NUMBER.search(text)
    if match:
        return f"{int(match.group(2))}-{match.group(1)}"
    return None


def ted_url(number: str) -> str:
    return f"https://ted.europa.eu/fr/notice/-/detail/{number}"


def boamp_url(idweb: str) -> str:
    return f"https://www.boamp.fr/pages/avis/?q=idweb:{idweb}"


# ISO 3166-1 alpha-2 → alpha-3 for the countries whose buyers publish on TED (EU, EEA, candidates, neighbours).
_ALPHA3 = {
    "AT": "AUT", "BE": "BEL", "BG": "BGR", "HR": "HRV", "CY": "CYP", "CZ": "CZE", "DK": "DNK", "EE": "EST",
    "FI": "FIN", "FR": "FRA", "DE": "DEU", "GR": "GRC", "EL": "GRC", "HU": "HUN", "IE": "IRL", "IT": "ITA",
    "LV": "LVA", "LT": "LTU", "LU": "LUX", "MT": "MLT", "NL": "NLD", "PL": "POL", "PT": "PRT", "RO": "ROU",
    "SK": "SVK", "SI": "SVN", "ES": "ESP", "SE": "SWE", "IS": "ISL", "LI": "LIE", "NO": "NOR", "CH": "CHE",
    "GB": "GBR", "UK": "GBR", "AL": "ALB", "BA": "BIH", "ME": "MNE", "MK": "MKD", "RS": "SRB", "TR": "TUR",
    "UA": "UKR", "MD": "MDA", "GE": "GEO", "XK": "XKX", "MC": "MCO", "AD": "AND", "SM": "SMR", "VA": "VAT",
    "US": "USA", "CA": "CAN", "MA": "MAR", "TN": "TUN", "DZ": "DZA",
    # French overseas territories with their own ISO code
    "GP": "GLP", "MQ": "MTQ", "GF": "GUF", "RE": "REU", "YT": "MYT", "PM": "SPM", "BL": "BLM", "MF": "MAF",
    "NC": "NCL", "PF": "PYF", "WF": "WLF",
}


def country_alpha3(value: object) -> tuple[str | None, str | None]:
    text = clean_text(value)
    if text is None:
        return None, None
    code = text.upper()
    if re.fullmatch(r"[A-Z]{3}", code):
        return code, None
    if code in _ALPHA3:
        return _ALPHA3[code], None
    return None, "pays_inconnu"


_NATURES = {
    "travaux": "travaux", "works": "travaux", "work": "travaux",
    "fournitures": "fournitures", "fourniture": "fournitures", "supplies": "fournitures", "supply": "fournitures",
    "services": "services", "service": "services",
}


def nature_marche(value: object) -> str | None:
    text = clean_text(value)
    return None if text is None else _NATURES.get(_key(text))


# Procedure codes and labels of every source, folded (lower case, letters and digits only) → French label.
_PROCEDURES = {
    "Procédure ouverte": (
        "ouvert", "open", "ptopen", "procedureouverte", "appeldoffresouvert",
    ),
    "Procédure restreinte": (
        "restreint", "restricted", "ptrestricted", "procedurerestreinte", "appeldoffresrestreint",
    ),
    "Procédure adaptée": ("procedureadaptee", "procedureadapte", "mapa"),
    "Procédure avec négociation": (
        "negwcall", "ptcompetitivenegotiation", "ptnegotiatedwithpriorcall", "ptinvolvingnegotiation",
        "procedureavecnegociation", "procedureconcurrentielleavecnegociation", "concurrentielleavecnegociation",
    ),
    "Procédure négociée": ("marchenegocie", "negocie", "procedurenegociee"),
    "Procédure négociée sans publicité préalable": (
        "negwocall", "ptnegotiatedwithoutpublication", "ptawardcontractwithoutcall",
        "ptawardcontractwithoutpublication", "attribuesanspubjoue", "negociesanspublicite",
        "marchenegociesanspublicite",
    ),
    "Attribution avec publication préalable": ("ptawardcontractwithpriorpublication", "attribueavecpubjoue"),
    "Dialogue compétitif": ("compdial", "ptcompetitivedialogue", "dialoguecompetitif"),
    "Partenariat d'innovation": (
        "innovation", "ptinnovationpartnership", "partenariatinnovation", "partenariatdinnovation",
        "innovationpartnership",
    ),
    "Concours ouvert": ("concoursouvert",),
    "Concours restreint": ("concoursrestreint",),
    "Concours": ("concours",),
    "Mise en concurrence (règlement 1370/2007)": ("comptend",),
    "Appel à manifestation d'intérêt (ferroviaire)": ("expintrail",),
    "Autre procédure en une étape": ("othsingle",),
    "Autre procédure en plusieurs étapes": ("othmult",),
    "Autre procédure": ("autre", "other"),
}
_PROCEDURE_BY_KEY = {key: label for label, keys in _PROCEDURES.items() for key in keys}
INNOVATION_PARTNERSHIP = "Partenariat d'innovation"
# "Procédure NC" (non communiquée) in the Opendatasoft index says nothing.
_PROCEDURE_UNKNOWN = frozenset({"procedurenc", "nc", "nonrenseigne", "nonrenseignee"})


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", fold(text))


def procedure_label(value: object) -> tuple[str | None, bool]:
    """French label of a procedure code or label, and whether it is an innovation partnership.

    Known codes (eForms BT-105, BOAMP, legacy TED ``PT_*``) and labels become the French label; other text is
    kept as published.
    """
    text = clean_text(value)
    if text is None:
        return None, False
    key = _key(text)
    if not key or key in _PROCEDURE_UNKNOWN:
        return None, False
    label = _PROCEDURE_BY_KEY.get(key)
    if label is None:
        folded = fold(text)
        innovation = "partenariat d'innovation" in folded or "partenariat d innovation" in folded or (
            "innovation partnership" in folded)
        return (INNOVATION_PARTNERSHIP if innovation else text), innovation
    return label, label == INNOVATION_PARTNERSHIP


# --- rows --------------------------------------------------------------------------------------------------------


class RowBuilder:
    """Collects the values of one row; the first value given for a column wins (best source first)."""

    def __init__(self, source: str, format_source: str):
        self.values: dict = dict.fromkeys(ROW_COLUMNS)
        self.values["source"] = source
        self.values["format_source"] = format_source
        self.anomalies: list[str] = []
        self.signals: set[str] = set()

    def __getitem__(self, column: str):
        return self.values[column]

    def flag(self, anomaly: str | None) -> None:
        if anomaly and anomaly not in _ORDINARY and anomaly not in self.anomalies:
            self.anomalies.append(anomaly)

    def signal(self, code: str) -> None:
        if code not in SIGNALS:
            raise ValueError(f"code de signal inconnu : {code}")
        self.signals.add(code)

    def put(self, column: str, value: object) -> None:
        if self.values[column] is None and value is not None:
            self.values[column] = value

    def text(self, column: str, *candidates: object) -> None:
        if self.values[column] is not None:
            return
        for candidate in candidates:
            text = clean_text(candidate)
            if text is not None:
                self.values[column] = text
                return

    def date(self, column: str, *candidates: object) -> None:
        for candidate in candidates:
            if self.values[column] is not None:
                return
            day, anomaly = to_date(candidate)
            self.flag(anomaly)
            self.put(column, day)

    def cpv(self, *candidates: object) -> None:
        for candidate in candidates:
            if self.values["code_cpv"] is not None:
                return
            code, anomaly = parse_cpv(candidate)
            self.flag(anomaly)
            self.put("code_cpv", code)

    def country(self, *candidates: object) -> None:
        for candidate in candidates:
            if self.values["acheteur_pays"] is not None:
                return
            code, anomaly = country_alpha3(candidate)
            self.flag(anomaly)
            self.put("acheteur_pays", code)

    def nature(self, *candidates: object) -> None:
        for candidate in candidates:
            self.put("nature_marche", nature_marche(candidate))

    def procedure(self, *candidates: object) -> None:
        """Every candidate is looked at: an innovation partnership is a signal even when another label wins."""
        for candidate in candidates:
            label, innovation = procedure_label(candidate)
            if innovation:
                self.signal("procedure_partenariat_innovation")
            self.put("procedure", label)

    def amount(self, value: object, nature: str, currency: object = None) -> None:
        """Amount in euros HT with its nature (estime / attribue); the first usable one wins."""
        if self.values["montant"] is not None or is_missing(value):
            return
        if currency is not None and clean_text(currency) not in (None, "EUR"):
            self.flag("montant_devise")
            return
        amount, anomaly = parse_amount(value)
        self.flag(anomaly)
        if amount is not None:
            self.values["montant"] = amount
            self.values["montant_nature"] = nature

    def build(self) -> dict:
        row = dict(self.values)
        if row["type_avis"] not in TYPES_AVIS:
            row["type_avis"] = "autre"
        row["anomalies"] = "|".join(self.anomalies) or None
        row["structured_signals"] = join_signals(self.signals)
        return row


def join_signals(codes) -> str:
    codes = set(codes)
    return "|".join(code for code in ORDER if code in codes)


def split_signals(text: object) -> set[str]:
    if not isinstance(text, str):
        return set()
    return {code.strip() for code in text.split("|") if code.strip()}


# --- safe XML and JSON -------------------------------------------------------------------------------------------


def xml_parser() -> etree.XMLParser:
    """lxml parser that never loads a DTD, resolves no entity and reaches no network."""
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True,
        remove_pis=True,
    )


def parse_xml(data: bytes):
    """Root element of one XML notice; NoticeRejected ``xml_invalide`` for a DTD, entities or bad syntax."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise NoticeRejected("xml_invalide", "XML avec DTD ou entités : refusé par sécurité (XXE, expansion "
                                             "d'entités)")
    try:
        root = etree.fromstring(data, parser=xml_parser())
    except etree.XMLSyntaxError as exc:
        raise NoticeRejected("xml_invalide", f"XML invalide : {exc}") from exc
    if root is None:
        raise NoticeRejected("xml_invalide", "XML vide")
    if root.getroottree().docinfo.internalDTD is not None:
        raise NoticeRejected("xml_invalide", "XML avec DTD interne : refusé par sécurité")
    return root


def local(tag: object) -> str | None:
    if not isinstance(tag, str):
        return None  # comments and processing instructions
    return tag.rsplit("}", 1)[-1]


def depth_of(value: object, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of a JSON value, computed without recursion; stops counting past ``limit``."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children)
    return deepest


def embedded_json(value: object, what: str, identifiant: str | None = None) -> tuple[object, str | None]:
    """A JSON document serialised into a string field (BOAMP ``donnees``/``gestion``), bounded in size and depth.

    Returns (value, anomaly): an invalid document is None with anomaly ``<what>_illisible``; a document too large
    or too deep raises NoticeRejected (``enregistrement_invalide``).
    """
    if value is None or isinstance(value, (dict, list)):
        document = value
    elif isinstance(value, str):
        if len(value) > MAX_EMBEDDED_CHARS:
            raise NoticeRejected(
                "enregistrement_invalide",
                f"champ {what} de {len(value)} caractères, au-delà de la limite de {MAX_EMBEDDED_CHARS}",
                identifiant,
            )
        if not value.strip():
            return None, None
        try:
            document = json.loads(value)
        except (ValueError, RecursionError):
            return None, f"{what}_illisible"
    else:
        return None, f"{what}_illisible"
    if depth_of(document) > MAX_DEPTH:
        raise NoticeRejected(
            "enregistrement_invalide", f"champ {what} imbriqué sur plus de {MAX_DEPTH} niveaux", identifiant)
    return document, None
