"""Read one notice file, whatever its format: detection from the content, streaming, one record per notice.

Formats (column ``format_source``):
- ``boamp-ods-json``: an Opendatasoft ``/records`` page ``{"total_count", "results": [...]}`` or an
  ``/exports/json`` array of records (Explore v2.0 ``records``/``record.fields`` wrappers too);
- ``boamp-ods-jsonl``: an ``/exports/jsonl`` file, one record per line;
- ``boamp-dila-xml``: a DILA XML notice ``<ANNONCE>`` (or a wrapper holding several);
- ``boamp-dila-api-json``: a notice of the retired DILA API ``{"gestion": {...}, "donnees": {...}}`` (or a list);
- ``ted-eforms-xml``: one TED eForms notice (ContractNotice, PriorInformationNotice, ContractAwardNotice...);
- ``ted-xml``: one legacy TED notice (``TED_EXPORT``, R2.0.x);
- ``ted-search-json``: a TED v3 search response ``{"notices": [...], "totalNoticeCount", ...}``.

``read_notices`` yields a NoticeRecord per notice; a notice that cannot be used comes as a NoticeRecord with an
empty row and a ``rejet`` (never an exception), and the file goes on. A file that cannot be read raises
FileRejected (pipelines.decp.readers), possibly after some records, with a motif of the rejets table.
``sniff_notice`` tells the format from the first bytes, so that a caller can route a file to the DECP reader or
to this one without trying both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import ijson
from lxml import etree

from pipelines.decp.readers import (
    FileRejected,
    JsonWalker,
    UnreadableRecord,
    json_error_text,
    open_without_bom,
    secure_iterparse,
    size_and_head,
    xml_error_text,
)

from . import (
    BOAMP_DILA_API_JSON,
    BOAMP_DILA_XML,
    BOAMP_ODS_JSON,
    BOAMP_ODS_JSONL,
    MAX_EMBEDDED_CHARS,
    MAX_NOTICE_BYTES,
    TED_EFORMS_XML,
    TED_SEARCH_JSON,
    TED_XML,
    NoticeRecord,
    NoticeRejected,
    local,
    parse_xml,
)
from .boamp import parse_boamp_record, parse_dila_api_json, parse_dila_xml
from .ted import EFORMS_ROOTS, parse_eforms, parse_ted_legacy, parse_ted_search_row

# A jsonl line holds one record: its two JSON strings plus the index fields.
MAX_LINE_BYTES = 2 * MAX_EMBEDDED_CHARS + 1024 * 1024
_EFORMS_NS = "urn:oasis:names:specification:ubl:schema:xsd:"
_OTHER_EFORMS_ROOTS = frozenset({"BusinessRegistrationInformationNotice"})

# --- detection ---------------------------------------------------------------------------------------------------

_COMMENT = re.compile(rb"<!--.*?(?:-->|$)", re.DOTALL)
_ROOT = re.compile(rb"<(?![?!])([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")


def sniff_notice(head: bytes) -> str | None:
    """Notice format of a file from its first bytes (64 kB are plenty), or None when it is not a notice file."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text:
        return None
    if text[:1] == b"<":
        return _sniff_xml(text)
    if text[:1] in (b"{", b"["):
        return _sniff_json(text)
    return None


def _sniff_xml(text: bytes) -> str | None:
    # The DOCTYPE, if any, is skipped here and refused by the reader.
    body = _COMMENT.sub(b"", text)
    body = re.sub(rb"<!DOCTYPE[^\[>]*(\[.*?\])?\s*>", b"", body, flags=re.DOTALL)
    match = _ROOT.search(body)
    if not match:
        return None
    root = match.group(2).decode("ascii", "replace")
    if root == "ANNONCE" or (b"<ANNONCE" in body and b"<IDWEB>" in body):
        return BOAMP_DILA_XML
    if root == "TED_EXPORT":
        return TED_XML
    if root in EFORMS_ROOTS or root in _OTHER_EFORMS_ROOTS:
        return TED_EFORMS_XML
    opening = body[match.start(): body.find(b">", match.start()) + 1]
    if _EFORMS_NS.encode() in opening and b"eforms" in body:
        return TED_EFORMS_XML
    return None


def _sniff_json(text: bytes) -> str | None:
    if b'"notices"' in text and (b'"publication-number"' in text or b'"totalNoticeCount"' in text
                                 or b'"ND"' in text):
        return TED_SEARCH_JSON
    if re.match(rb'\{\s*"total_count"\s*:\s*\d+\s*,\s*"results"\s*:\s*\[\s*\]', text):
        return BOAMP_ODS_JSON  # a day without notices: an empty page, still a BOAMP page
    if b'"idweb"' not in text:
        return None
    if re.search(rb'"gestion"\s*:\s*\{', text) and re.search(rb'"donnees"\s*:\s*\{', text):
        return BOAMP_DILA_API_JSON
    if text[:1] == b"[" or b'"results"' in text or b'"total_count"' in text or b'"records"' in text:
        return BOAMP_ODS_JSON
    return BOAMP_ODS_JSONL


def _describe_unknown(head: bytes) -> str:
    if not head.strip():
        return "fichier vide"
    if b"\x00" in head[:1024]:
        return "fichier binaire, pas un fichier d'avis BOAMP ou TED"
    return ("contenu non reconnu : ni réponse de l'API BOAMP (Opendatasoft), ni XML DILA, ni avis TED (eForms, "
            "XML TED, réponse de recherche)")


# --- reading -----------------------------------------------------------------------------------------------------


def read_notices(path: Path, max_bytes: int) -> Iterator[NoticeRecord]:
    """Yield the notices of one file; raise FileRejected for what cannot be read (possibly after some notices)."""
    path = Path(path)
    size, head = size_and_head(path, max_bytes)
    fmt = sniff_notice(head)
    if fmt is None:
        raise FileRejected("format_non_reconnu", _describe_unknown(head))
    if fmt == BOAMP_ODS_JSON:
        items = _json_items(path, {"results.item", "records.item", "item"}, whole=False, what="results")
        records = _parsed(items, fmt, lambda r: parse_boamp_record(r, BOAMP_ODS_JSON))
    elif fmt == BOAMP_ODS_JSONL:
        records = _parsed(_jsonl_items(path), fmt, lambda r: parse_boamp_record(r, BOAMP_ODS_JSONL))
    elif fmt == TED_SEARCH_JSON:
        records = _parsed(_json_items(path, {"notices.item"}, whole=False, what="notices"), fmt,
                          parse_ted_search_row)
    elif fmt == BOAMP_DILA_API_JSON:
        records = _parsed(_json_items(path, {"item"}, whole=True, what="avis"), fmt, parse_dila_api_json)
    elif fmt == BOAMP_DILA_XML:
        records = _parsed(_annonces(path, head), fmt, parse_dila_xml)
    else:
        parser = parse_eforms if fmt == TED_EFORMS_XML else parse_ted_legacy
        records = _parsed(_single_xml(path, size), fmt, parser)
    for record in records:
        if record.rejet is None:
            record.row["source_fichier"] = path.name
        yield record


def _parsed(items: Iterator[object], fmt: str, parse: Callable[[object], dict]) -> Iterator[NoticeRecord]:
    for position, item in enumerate(items):
        if isinstance(item, UnreadableRecord):
            yield NoticeRecord({}, position, fmt, item)
            continue
        try:
            row = parse(item)
        except NoticeRejected as exc:
            yield NoticeRecord({}, position, fmt, exc.unreadable())
        except (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError) as exc:
            # Data no parser anticipated: the notice is rejected with the reason, the file goes on.
            yield NoticeRecord({}, position, fmt, UnreadableRecord(
                f"avis inexploitable ({type(exc).__name__} : {str(exc)[:200]})", _identifier(item)))
        else:
            yield NoticeRecord(row, position, fmt)


def _identifier(item: object) -> str | None:
    if isinstance(item, dict):
        value = item.get("idweb") or item.get("publication-number")
        return str(value) if isinstance(value, (str, int)) else None
    return None


def _json_items(path: Path, item_prefixes: set[str], whole: bool, what: str) -> Iterator[object]:
    """Stream the items at ``item_prefixes`` (``whole``: a top-level object is itself the only item)."""
    count = 0
    container = False
    try:
        with open_without_bom(path) as handle:
            walker = JsonWalker(handle)
            for prefix, event, value in walker.values():
                if prefix in item_prefixes or (whole and walker.depth == 0 and event == "start_map"):
                    container = True
                    item = walker.take(event, value)  # may fail half-way: the item is then not counted
                    count += 1
                    yield item
                elif event == "start_array" and f"{prefix}.item".lstrip(".") in item_prefixes:
                    container = True
    except ijson.JSONError as exc:
        raise FileRejected("json_invalide", f"JSON invalide après {count} avis : {json_error_text(exc)}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise FileRejected("json_invalide", f"lecture JSON impossible après {count} avis : {exc}") from exc
    if not container:
        raise FileRejected("format_non_reconnu", f"JSON sans liste « {what} » d'avis")


def _jsonl_items(path: Path) -> Iterator[object]:
    try:
        with open_without_bom(path) as handle:
            while True:
                line = handle.readline(MAX_LINE_BYTES + 1)
                if not line:
                    return
                if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                    while True:  # skip the rest of the line without holding it
                        chunk = handle.readline(1 << 20)
                        if not chunk or chunk.endswith(b"\n"):
                            break
                    yield UnreadableRecord(f"ligne de plus de {MAX_LINE_BYTES} octets : pas un avis")
                    continue
                text = line.strip()
                if not text:
                    continue
                try:
                    yield json.loads(text)
                except (ValueError, RecursionError) as exc:
                    yield UnreadableRecord(f"ligne JSON invalide : {str(exc)[:200]}")
    except OSError as exc:
        raise FileRejected("fichier_illisible", f"lecture impossible : {exc.strerror or exc}") from exc


def _annonces(path: Path, head: bytes) -> Iterator[object]:
    """Each <ANNONCE> of a DILA XML file, as an element, memory freed as it goes."""
    count = 0
    try:
        for event, element in secure_iterparse(path, head):
            if event != "end" or local(element.tag) != "ANNONCE":
                continue
            count += 1
            yield element
            parent = element.getparent()
            element.clear()
            while parent is not None and element.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as exc:
        raise FileRejected("xml_invalide", f"XML invalide après {count} avis : {xml_error_text(exc)}") from exc


def _single_xml(path: Path, size: int) -> Iterator[object]:
    """The root element of a one-notice XML file (TED)."""
    if size > MAX_NOTICE_BYTES:
        raise FileRejected("fichier_trop_volumineux",
                           f"{size} octets pour un seul avis TED (au plus {MAX_NOTICE_BYTES} octets)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileRejected("fichier_illisible", f"fichier illisible : {exc.strerror or exc}") from exc
    try:
        root = parse_xml(data)
    except NoticeRejected as exc:
        raise FileRejected(exc.motif, exc.detail) from exc
    yield root
