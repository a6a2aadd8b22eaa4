"""Streaming readers: one DECP file in, raw records out, whatever the format.

Formats are detected from the content, never from the file name: DECP JSON (2019 wrapper ``{"marches": [...]}``,
2024 wrapper ``{"marches": {"marche": [...], "contrat-concession": [...]}}``), DECP XML (both versions, booleans
``oui/non``), and the two flattened CSV shapes met in the wild (pandas ``json_normalize`` of the 2019 JSON, and the
decp.info tabular export with one row per contract and supplier). JSON and XML are parsed as streams so that a
yearly file of hundreds of MB is never loaded whole.
"""

from __future__ import annotations

import ast
import codecs
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ijson
from lxml import etree

from .whole_json import gc_paused, whole_document

SNIFF_BYTES = 64 * 1024
# Past this size the stdlib fallback (used for JSON that ijson rejects, e.g. with NaN) would load too much at once.
FALLBACK_MAX_BYTES = 64 * 1024 * 1024
# A literal Python/JSON list embedded as text (semi-flattened files) longer than this is not a real DECP value.
EMBEDDED_MAX_CHARS = 1_000_000
# DECP records nest about 5 levels deep; far deeper is malformed or hostile.
MAX_JSON_DEPTH = 64
_START_EVENTS = frozenset({"start_map", "start_array"})
_END_EVENTS = frozenset({"end_map", "end_array"})

JSON_2019 = "decp-2019-json"
JSON_2024 = "decp-2024-json"
XML_2019 = "decp-2019-xml"
XML_2024 = "decp-2024-xml"
CSV_FLATTENED = "decp-2019-csv-aplati"
CSV_TABULAR = "decp-tabulaire-csv"

MARCHE = "marche"
CONCESSION = "concession"

# Fields that exist only in the 2024 format: their presence tells an XML record's version.
V2_ONLY_FIELDS = frozenset(
    {"marcheInnovant", "ccag", "offresRecues", "attributionAvance", "sousTraitanceDeclaree", "typesPrix", "techniques",
     "considerationsSociales", "considerationsEnvironnementales"}
)


class FileRejected(Exception):
    """The file (or the rest of it) cannot be read; ``motif`` is a code of the rejets table."""

    def __init__(self, motif: str, detail: str):
        super().__init__(detail)
        self.motif = motif
        self.detail = detail


@dataclass(frozen=True)
class UnreadableRecord:
    """Stands for a record the reader could not use; ingestion rejects it with this detail."""

    detail: str
    identifiant: str | None = None
    motif: str = "enregistrement_invalide"


@dataclass(frozen=True)
class RawRecord:
    position: int
    kind: str | None  # MARCHE, CONCESSION, or None when the record itself must tell
    data: object
    format_source: str


def size_and_head(path: Path, max_bytes: int) -> tuple[int, bytes]:
    """The file's size and first bytes, after the checks every reader makes (readable, within the size limit)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FileRejected("fichier_illisible", f"fichier illisible : {exc.strerror or exc}") from exc
    if size > max_bytes:
        raise FileRejected(
            "fichier_trop_volumineux",
            f"{size} octets, au-delà de la limite configurée ({max_bytes} octets, ACHATS_MAX_FILE_BYTES)",
        )
    try:
        with path.open("rb") as handle:
            return size, handle.read(SNIFF_BYTES)
    except OSError as exc:
        raise FileRejected("fichier_illisible", f"fichier illisible : {exc.strerror or exc}") from exc


def read_records(path: Path, max_bytes: int) -> Iterator[RawRecord]:
    """Yield the records of one file; raise FileRejected for what cannot be read (possibly after some records)."""
    size, head = size_and_head(path, max_bytes)
    kind = sniff(head)
    if kind == "json":
        yield from _read_json(path, size)
    elif kind == "xml":
        yield from _read_xml(path, head)
    elif kind == "csv":
        yield from _read_csv(path, head)
    else:
        raise FileRejected("format_non_reconnu", _describe_unknown(path, head))


def sniff(head: bytes) -> str | None:
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text:
        return None
    if text[:1] in (b"{", b"["):
        return "json"
    if text[:1] == b"<":
        return "xml"
    first_line = text.split(b"\n", 1)[0].decode("utf-8", "replace")
    columns = {c.strip().strip('"') for c in first_line.split(",")}
    if _csv_shape(columns):
        return "csv"
    return None


def utf16_head(head: bytes) -> bool:
    """UTF-16 text (Windows exports): a BOM, or an ASCII start with a NUL byte before or after each character."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    start = head[:64]
    if len(start) < 8:
        return False
    for text, zeros in ((start[0::2], start[1::2]), (start[1::2], start[0::2])):
        if not zeros.strip(b"\x00") and all(32 <= b < 127 or b in b"\t\r\n" for b in text):
            return True
    return False


UTF16_DETAIL = "fichier encodé en UTF-16 : encodage non pris en charge, à convertir en UTF-8"


def _describe_unknown(path: Path, head: bytes) -> str:
    if not head.strip():
        return "fichier vide"
    if utf16_head(head):
        return UTF16_DETAIL
    if b"\x00" in head[:1024]:
        return "fichier binaire, pas un fichier DECP JSON, XML ou CSV"
    return "contenu non reconnu : ni DECP JSON, ni DECP XML, ni CSV DECP aplati ou tabulaire"


# --- JSON -------------------------------------------------------------------------------------------------------

# ijson prefixes of records, with the record kind they imply (None: the record tells).
_JSON_ITEM_PREFIXES = {
    "marches.item": None,
    "item": None,
    "marches.marche.item": MARCHE,
    "marches.contrat-concession.item": CONCESSION,
}
# A lone record instead of a list (seen in XML-to-JSON conversions).
_JSON_SINGLE_PREFIXES = {"marches.marche": MARCHE, "marches.contrat-concession": CONCESSION}


def open_without_bom(path: Path) -> io.BufferedReader:
    handle = path.open("rb")
    if handle.read(3) != b"\xef\xbb\xbf":
        handle.seek(0)
    return handle


class JsonWalker:
    """Top-down walk of a JSON stream giving the dotted path (``marches.marche.item``) of each value.

    It uses ijson's basic_parse rather than parse: ijson's own prefixes cost time and memory quadratic in the
    nesting depth, and a hostile file can nest 100 000 levels. Containers deeper than MAX_JSON_DEPTH outside a
    taken item reject the file; ``take`` builds the value just yielded (bounded by ``build_item``) instead of
    walking into it.
    """

    def __init__(self, handle) -> None:
        self.events = ijson.basic_parse(handle, use_float=True)
        self.keys: list[str | None] = []
        self.top_keys: list[str] = []  # the first keys of a top-level object, to describe an unknown file
        self._taken = False

    @property
    def depth(self) -> int:
        return len(self.keys)

    def values(self) -> Iterator[tuple[str, str, object]]:
        """(path, event, value) for every value that starts: a scalar, or a map or array about to be entered."""
        for event, value in self.events:
            if event == "map_key":
                self.keys[-1] = value
                if len(self.keys) == 1 and len(self.top_keys) < 5:
                    self.top_keys.append(value)
                continue
            if event in _END_EVENTS:
                self.keys.pop()
                continue
            self._taken = False
            yield ".".join(k or "" for k in self.keys), event, value
            if not self._taken and event in _START_EVENTS:
                self.keys.append("item" if event == "start_array" else None)
                if len(self.keys) > MAX_JSON_DEPTH:
                    raise FileRejected("json_invalide", f"JSON imbriqué sur plus de {MAX_JSON_DEPTH} niveaux")

    def take(self, event: str, value: object) -> object:
        """The whole value whose first event ``values`` just yielded."""
        self._taken = True
        return build_item(self.events, event, value)


def _read_json(path: Path, size: int) -> Iterator[RawRecord]:
    whole = _whole_json(path, size)
    if whole is not None:
        yield from whole
        return
    yielded = 0
    fmt: str | None = None
    top_keys: list[str] = []
    try:
        with open_without_bom(path) as handle:
            walker = JsonWalker(handle)
            top_keys = walker.top_keys
            for prefix, event, value in walker.values():
                if prefix == "marches" and event in _START_EVENTS:
                    fmt = JSON_2019 if event == "start_array" else JSON_2024
                elif prefix == "" and event == "start_array":
                    fmt = JSON_2019
                kind, is_item = _item_kind(prefix, event)
                if is_item:
                    yield RawRecord(yielded, kind, walker.take(event, value), fmt or JSON_2019)
                    yielded += 1
    except ijson.JSONError as exc:
        yield from _json_fallback(path, size, yielded, exc)
        return
    except (OSError, UnicodeDecodeError) as exc:
        raise FileRejected("json_invalide", f"lecture JSON impossible après {yielded} enregistrements : {exc}") from exc
    if fmt is None:
        keys = ", ".join(top_keys) or "aucune"
        raise FileRejected(
            "format_non_reconnu", f"JSON sans liste « marches » : pas un fichier DECP (clés de premier niveau : {keys})"
        )


def _whole_json(path: Path, size: int) -> list[RawRecord] | None:
    """The records of a file small enough to be parsed whole (whole_json), as the stream would yield them; None
    when the stream must read it."""
    document = whole_document(path, size, MAX_JSON_DEPTH)
    if document is None:
        return None
    records, fmt = _records_of_document(document)
    if fmt is None:
        return None
    marches = document.get("marches") if isinstance(document, dict) else None
    # A lone record is an object; a lone scalar is no record to the stream (nor is a null list).
    if isinstance(marches, dict) and any(not isinstance(v, (list, dict)) and v is not None
                                         for k, v in marches.items() if k in ("marche", "contrat-concession")):
        return None
    with gc_paused():
        return [RawRecord(position, kind, data, fmt) for position, (kind, data) in enumerate(records)]


def _item_kind(prefix: str, event: str) -> tuple[str | None, bool]:
    if prefix in _JSON_ITEM_PREFIXES:
        return _JSON_ITEM_PREFIXES[prefix], True
    if prefix in _JSON_SINGLE_PREFIXES and event == "start_map":
        return _JSON_SINGLE_PREFIXES[prefix], True
    return None, False


def build_item(events, event: str, value: object) -> object:
    """The value starting with this event; a record nested deeper than DECP ever is, is consumed unbuilt."""
    if event not in _START_EVENTS:
        return value
    builder = ijson.ObjectBuilder()
    builder.event(event, value)
    depth = 1
    for event_, value_ in events:
        if event_ in _START_EVENTS:
            depth += 1
        elif event_ in _END_EVENTS:
            depth -= 1
        if builder is not None:
            if depth > MAX_JSON_DEPTH:
                builder = None
            else:
                builder.event(event_, value_)
        if depth == 0:
            break
    if builder is None:
        return UnreadableRecord(f"enregistrement imbriqué sur plus de {MAX_JSON_DEPTH} niveaux")
    return builder.value


def json_error_text(error: Exception) -> str:
    """One line for a rejets detail: yajl's messages go on with a quote of the input and a caret line."""
    lines = str(error).strip().splitlines()
    return lines[0].strip() if lines else type(error).__name__


def _json_fallback(path: Path, size: int, already: int, error: Exception) -> Iterator[RawRecord]:
    """ijson rejects some JSON the stdlib accepts (``NaN``); small files get a second chance, whole."""
    if size > FALLBACK_MAX_BYTES:
        raise FileRejected("json_invalide",
                           f"JSON invalide après {already} enregistrements : {json_error_text(error)}")
    raw = path.read_bytes()
    try:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252")
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise FileRejected("json_invalide", f"JSON invalide après {already} enregistrements : {exc}") from exc
    records, fmt = _records_of_document(document)
    if fmt is None:
        raise FileRejected("format_non_reconnu", "JSON sans liste « marches » : pas un fichier DECP")
    for position, (kind, data) in enumerate(records):
        if position >= already:
            yield RawRecord(position, kind, data, fmt)


def _records_of_document(document: object) -> tuple[list[tuple[str | None, object]], str | None]:
    if isinstance(document, list):
        return [(None, r) for r in document], JSON_2019
    if not isinstance(document, dict) or "marches" not in document:
        return [], None
    marches = document["marches"]
    if isinstance(marches, list):
        return [(None, r) for r in marches], JSON_2019
    if not isinstance(marches, dict):
        return [], None
    records: list[tuple[str | None, object]] = []
    kinds = {"marche": MARCHE, "contrat-concession": CONCESSION}
    # Document order, as the stream saw it, so that positions line up with records already yielded.
    for key, items in marches.items():
        if key in kinds and items is not None:
            records.extend((kinds[key], r) for r in (items if isinstance(items, list) else [items]))
    return records, JSON_2024


# --- XML --------------------------------------------------------------------------------------------------------

_XML_RECORD_TAGS = {"marche": MARCHE, "contrat-concession": CONCESSION}
_XML_ROOTS = {"marches", *_XML_RECORD_TAGS}


def _local(tag: object) -> str | None:
    if not isinstance(tag, str):
        return None  # comments and processing instructions
    return tag.rsplit("}", 1)[-1]


def secure_iterparse(path: Path, head: bytes) -> Iterator[tuple[str, object]]:
    """(event, element) for "start" and "end" of a whole XML file, parsed safely.

    DTDs are refused outright (in the first bytes, then in the parsed document whatever comes before it):
    procurement XML never needs one, and entities are how XXE and expansion bombs get in. Entities are not
    resolved, nothing is fetched from the network, and lxml's huge-tree limits stay on.
    """
    refused = "XML avec DTD ou entités : refusé par sécurité (XXE, expansion d'entités)"
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise FileRejected("xml_invalide", refused)
    events = etree.iterparse(str(path), events=("start", "end"), resolve_entities=False, no_network=True,
                             load_dtd=False, huge_tree=False, remove_comments=True, remove_pis=True)
    first = True
    for event, element in events:
        if first:
            first = False
            if element.getroottree().docinfo.internalDTD is not None:
                raise FileRejected("xml_invalide", refused)
        yield event, element


def _read_xml(path: Path, head: bytes) -> Iterator[RawRecord]:
    parser_events = secure_iterparse(path, head)
    depth = 0
    position = 0
    try:
        for event, element in parser_events:
            if event == "start":
                if depth == 0 and _local(element.tag) not in _XML_ROOTS:
                    raise FileRejected(
                        "format_non_reconnu",
                        f"XML de racine <{_local(element.tag)}> : pas un fichier DECP (racine <marches> attendue)",
                    )
                depth += 1
                continue
            depth -= 1
            tag = _local(element.tag)
            parent = element.getparent()
            # A record is a <marche>/<contrat-concession> at the root or directly in a <marches> list, however
            # deep that list sits (some exports nest <marches> twice).
            if tag not in _XML_RECORD_TAGS or (parent is not None and _local(parent.tag) != "marches"):
                continue
            data = _element_to_object(element)
            fmt = XML_2024 if isinstance(data, dict) and V2_ONLY_FIELDS & data.keys() else XML_2019
            yield RawRecord(position, _XML_RECORD_TAGS[tag], data, fmt)
            position += 1
            # Free what was parsed so memory stays flat on large files.
            element.clear()
            while parent is not None and element.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as exc:
        raise FileRejected("xml_invalide",
                           f"XML invalide après {position} enregistrements : {xml_error_text(exc)}") from exc


def xml_error_text(exc: etree.XMLSyntaxError) -> str:
    """libxml2's message, with the likely cause when bytes are not UTF-8 (a Latin-1 file that does not declare its
    encoding, so read as UTF-8 as the XML standard requires)."""
    message = str(exc)
    if "Invalid bytes in character encoding" in message or "not proper UTF-8" in message:
        return (f"{message} — octets non UTF-8 : fichier sans doute en Latin-1/Windows-1252 sans déclaration "
                '<?xml version="1.0" encoding="ISO-8859-1"?> ; le déclarer ou le convertir en UTF-8')
    return message


def _element_to_object(element) -> object:
    children = [child for child in element if _local(child.tag)]
    if not children:
        text = (element.text or "").strip()
        return text or None
    grouped: dict[str, list[object]] = {}
    for child in children:
        grouped.setdefault(_local(child.tag), []).append(_element_to_object(child))
    return {tag: values[0] if len(values) == 1 else values for tag, values in grouped.items()}


# --- CSV --------------------------------------------------------------------------------------------------------


def _csv_shape(columns: set[str]) -> str | None:
    if {"acheteur.id", "id"} <= columns or {"titulaires.1.id", "id"} <= columns:
        return CSV_FLATTENED
    if {"uid", "id", "acheteur_id"} <= columns and ("titulaire_id" in columns or "montant" in columns):
        return CSV_TABULAR
    return None


def text_encoding(path: Path) -> str:
    """UTF-8 when the whole file decodes as UTF-8, else Windows-1252 (spreadsheet exports)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8-sig"


def _read_csv(path: Path, head: bytes) -> Iterator[RawRecord]:
    encoding = text_encoding(path)
    csv.field_size_limit(EMBEDDED_MAX_CHARS)
    try:
        with path.open(encoding=encoding, newline="") as handle:
            reader = csv.DictReader(handle)
            shape = _csv_shape({c.strip() for c in reader.fieldnames or []})
            if shape == CSV_FLATTENED:
                for position, row in enumerate(reader):
                    yield RawRecord(position, None, _unflatten(row), CSV_FLATTENED)
            else:
                yield from _group_tabular(reader)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise FileRejected("csv_invalide", f"CSV illisible : {exc}") from exc


# The eclaireur-public flattening wrote each supplier's fields as one-item Python lists: "['SIRET']".
_ONE_ITEM_LIST = re.compile(r"""^\[\s*(['"])([^'"]*)\1\s*\]$""")


def _one_item_list(value: str) -> str:
    match = _ONE_ITEM_LIST.match(value.strip()) if isinstance(value, str) else None
    return match.group(2) if match else value


def _unflatten(row: dict[str, str]) -> dict:
    """``acheteur.id`` → ``{"acheteur": {"id": …}}``; ``titulaires.2.id`` → second supplier."""
    record: dict = {}
    for key in sorted(row, key=lambda k: k.count(".") if k else 0):
        value = row[key]
        if key is None or value in (None, ""):
            continue
        parts = key.strip().split(".")
        node = record
        for part, following in zip(parts, parts[1:]):
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = _one_item_list(value)
    # Numbered sub-keys (titulaires.1, titulaires.2…) become a list in their numeric order.
    for key, value in list(record.items()):
        if isinstance(value, dict) and value and all(k.isdigit() for k in value):
            record[key] = [value[k] for k in sorted(value, key=int)]
    return record


def _group_tabular(reader: csv.DictReader) -> Iterator[RawRecord]:
    """decp.info rows are one per (contract version, supplier): merge the suppliers of one contract back.

    Rows are the same contract when they share uid, notification date, amount and duration; rows of the same uid
    that differ otherwise (lots published under one id) stay separate records, for consolidation to judge.
    Rows of superseded versions (``donneesActuelles`` false) are returned as UnreadableRecord, so they are
    counted in rejets rather than dropped.
    """
    contracts: dict[tuple, dict] = {}
    first_row: dict[tuple, int] = {}
    for position, row in enumerate(reader):
        if (row.get("donneesActuelles") or "true").strip().casefold() in ("false", "0", "non"):
            yield RawRecord(position, MARCHE, UnreadableRecord(
                "ligne d'une version antérieure du marché (donneesActuelles = false), remplacée par la version "
                "actuelle", row.get("uid") or row.get("id"), "version_anterieure"), CSV_TABULAR)
            continue
        uid = row.get("uid") or f"{row.get('acheteur_id') or ''}{row.get('id') or ''}"
        key = (uid, row.get("dateNotification"), row.get("montant"), row.get("dureeMois"))
        if not uid:
            key = (f"ligne {position}",)  # nothing ties it to another row
        supplier = {
            "id": row.get("titulaire_id"),
            "typeIdentifiant": row.get("titulaire_typeIdentifiant") or ("SIRET" if row.get("titulaire_id") else None),
            "denominationSociale": row.get("titulaire_nom"),
        }
        if key not in contracts:
            record = {k: v for k, v in row.items() if k and v not in (None, "") and not k.startswith("titulaire_")}
            record["titulaires"] = []
            contracts[key] = record
            first_row[key] = position
        known = {t["id"] for t in contracts[key]["titulaires"]}
        if (supplier["id"] or supplier["denominationSociale"]) and (not supplier["id"] or supplier["id"] not in known):
            contracts[key]["titulaires"].append(supplier)
    for key in sorted(contracts, key=first_row.__getitem__):
        yield RawRecord(first_row[key], MARCHE, contracts[key], CSV_TABULAR)


# --- values embedded as text ------------------------------------------------------------------------------------


def parse_embedded(value: object) -> tuple[object, bool]:
    """A list or object serialised into a string (``"[]"``, ``"{'code': …}"``); returns (value, was_text)."""
    if not isinstance(value, str):
        return value, False
    text = value.strip()
    if not text or text[0] not in "[{" or len(text) > EMBEDDED_MAX_CHARS:
        return value, False
    try:
        return json.loads(text), True
    except (ValueError, RecursionError):
        pass
    try:
        # Python reprs written by pandas exports; literal_eval only builds literals, never runs code.
        return ast.literal_eval(text), True
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return value, False
