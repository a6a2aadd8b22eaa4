"""DCAT-AP catalogue (JSON-LD) of a publication, for data.gouv.fr harvesting and European portals.

One ``dcat:Catalog`` → one ``dcat:Dataset`` → one ``dcat:Distribution`` per published file, built from the
datapackage.json (so the two descriptions cannot disagree: every datapackage path becomes a distribution, and
``dcat_catalog`` raises if one would be missing or listed twice) plus the extra files the publisher names (Excel,
JSON, index.html…).

DCAT-AP conventions followed (and DCAT-AP FR where they are simple): language-tagged French text, EU controlled
vocabularies for formats, language, country, themes and access rights, IANA media types, ``dcat:accessURL`` on
every distribution (mandatory in DCAT-AP) equal to its ``dcat:downloadURL``, ``spdx:checksum`` in sha256,
``dcat:byteSize`` as ``xsd:nonNegativeInteger``, the Table Schema as ``dct:conformsTo`` of each table file.
Without ``base_url`` the URLs are relative to the catalogue file (JSON-LD resolves them against its location).
"""

from __future__ import annotations

import json
import mimetypes
import re
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from ._files import atomic_write_text, sha256_file, unsafe_relative

CATALOG_NAME = "catalog.jsonld"
LICENCE_URI = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
PUBLISHER_NAME = "Observatoire des achats innovants"
CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "adms": "http://www.w3.org/ns/adms#",
    "spdx": "http://spdx.org/rdf/terms#",
}
_EU = "http://publications.europa.eu/resource/authority/"
_IANA = "https://www.iana.org/assignments/media-types/"
# EU "file-type" authority codes; a format without a code gets no dct:format rather than a made-up one.
FILE_TYPES = {"csv": "CSV", "parquet": "PARQUET", "xlsx": "XLSX", "json": "JSON", "jsonld": "JSON_LD",
              "html": "HTML", "txt": "TXT", "pdf": "PDF", "zip": "ZIP"}
MEDIATYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet",
              "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
              "json": "application/json", "jsonld": "application/ld+json", "html": "text/html",
              "md": "text/markdown", "txt": "text/plain"}
# Eurostat-style frequency codes of the EU "frequency" authority (dct:accrualPeriodicity).
FREQUENCIES = {"DAILY", "WEEKLY", "MONTHLY", "QUARTERLY", "ANNUAL", "IRREG", "UPDATE_CONT"}
_SHA256 = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")


def _fr(text: str) -> dict:
    return {"@value": text, "@language": "fr"}


def _typed(value, datatype: str) -> dict:
    return {"@value": str(value), "@type": f"xsd:{datatype}"}


def _ref(iri: str) -> dict:
    return {"@id": iri}


def _extension(path: str) -> str:
    return PurePosixPath(path).suffix.lstrip(".").lower()


def _datetime_literal(text: str) -> dict:
    # package["created"] is "2026-11-26T09:29:08+00:00" (publisher) or "2026-11-26" (hand-written).
    return _typed(text, "dateTime" if "T" in text else "date")


def distribution(folder: Path, path: str, title: str, mediatype: str | None = None) -> dict:
    """An ``extra_distributions`` entry for ``folder/path``: size and sha256 measured, media type guessed."""
    reason = unsafe_relative(path)
    if reason:
        raise ValueError(f"{path} : {reason}")
    target = Path(folder) / path
    if not target.is_file():
        raise FileNotFoundError(f"{target} : fichier introuvable, impossible de le décrire dans le catalogue")
    return {
        "path": path,
        "title": title,
        "mediatype": mediatype or MEDIATYPES.get(_extension(path)) or mimetypes.guess_type(path)[0]
        or "application/octet-stream",
        "bytes": target.stat().st_size,
        "sha256": sha256_file(target),
    }


class _Builder:
    def __init__(self, base_url: str | None, licence: str, issued: dict):
        self.base = None if base_url is None else base_url.rstrip("/") + "/"
        self.licence = licence
        self.issued = issued
        self.nodes: list[dict] = []
        self.paths: set[str] = set()

    def url(self, path: str) -> str:
        relative = quote(path, safe="/-._~")
        return self.base + relative if self.base else relative

    def node_id(self, name: str) -> str:
        # With a base URL, stable IRIs inside the catalogue document; without, blank nodes.
        return f"{self.base}{CATALOG_NAME}#{name}" if self.base else f"_:{name}"

    def add(self, path: str, title: str, mediatype: str | None, size, sha, fmt: str | None,
            conforms_to: str | None, origin: str) -> str:
        reason = unsafe_relative(path) if isinstance(path, str) else "chemin manquant"
        if reason:
            raise ValueError(f"catalogue DCAT : {origin} : chemin {path!r} refusé ({reason})")
        if path in self.paths:
            raise ValueError(f"catalogue DCAT : {path} décrit deux fois ({origin})")
        self.paths.add(path)
        fmt = (fmt or _extension(path)).lower()
        mediatype = mediatype or MEDIATYPES.get(fmt) or mimetypes.guess_type(path)[0]
        node = {
            "@id": self.node_id("distribution-" + re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-").lower()),
            "@type": "dcat:Distribution",
            "dct:title": _fr(title or path),
            "dcat:downloadURL": _ref(self.url(path)),
            "dcat:accessURL": _ref(self.url(path)),
            "dct:license": _ref(self.licence),
            "dct:modified": self.issued,
        }
        if fmt in FILE_TYPES:
            node["dct:format"] = _ref(f"{_EU}file-type/{FILE_TYPES[fmt]}")
        if mediatype:
            node["dcat:mediaType"] = _ref(_IANA + mediatype)
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ValueError(f"catalogue DCAT : {path} : taille invalide {size!r} ({origin})")
            node["dcat:byteSize"] = _typed(size, "nonNegativeInteger")
        if sha:
            match = _SHA256.match(str(sha))
            if not match:
                raise ValueError(f"catalogue DCAT : {path} : empreinte sha256 invalide {sha!r} ({origin})")
            node["spdx:checksum"] = {
                "@type": "spdx:Checksum",
                "spdx:algorithm": _ref("spdx:checksumAlgorithm_sha256"),
                "spdx:checksumValue": _typed(match.group(1).lower(), "hexBinary"),
            }
        if conforms_to:
            node["dct:conformsTo"] = {"@id": self.url(conforms_to), "@type": "dct:Standard"}
        self.nodes.append(node)
        return node["@id"]


def dcat_catalog(package: dict, base_url: str | None, extra_distributions: list[dict], *,
                 years: list[int] | None = None, version: str | None = None, issued: str | None = None,
                 publisher: str = PUBLISHER_NAME, contact_email: str | None = None,
                 frequency: str | None = None) -> dict:
    """DCAT-AP JSON-LD document (``@context`` + ``@graph``) describing the publication of ``package``.

    ``package``: the datapackage.json content (title, description, keywords, licenses, created, resources with
    path/format/mediatype/bytes/hash/schema and "autres_formats"). ``base_url``: where the publication folder is
    served (landing page ``base_url/index.html``); None for relative URLs. ``extra_distributions``: dicts with
    path, title, and optionally mediatype, format, bytes, sha256 (see ``distribution``). ``years``: years covered
    (``dct:temporal``). ``version``: release name (``dcat:version``). ``issued``: first publication date when
    known (default ``package["created"]``). ``frequency``: EU frequency code such as "MONTHLY"."""
    for key in ("title", "description", "created", "resources"):
        if not package.get(key):
            raise ValueError(f"catalogue DCAT : datapackage sans « {key} »")
    licences = package.get("licenses") or []
    licence = next((l.get("path") for l in licences if isinstance(l, dict) and l.get("path")), None) or LICENCE_URI
    if licence.rstrip("/") == LICENCE_URI.rstrip("/"):
        licence = LICENCE_URI  # one spelling of the Etalab URI, the one data.gouv.fr recognises
    modified = _datetime_literal(str(package["created"]))
    builder = _Builder(base_url, licence, modified)

    distribution_ids = []
    for resource in package["resources"]:
        name = resource.get("name") or resource.get("path")
        origin = f"ressource « {name} » du datapackage"
        schema = resource.get("schema") if isinstance(resource.get("schema"), str) else None
        distribution_ids.append(builder.add(
            resource.get("path"), resource.get("title") or name, resource.get("mediatype"), resource.get("bytes"),
            resource.get("hash"), resource.get("format"), schema, origin))
        for other in resource.get("autres_formats") or []:
            fmt = other.get("format") or _extension(other.get("path") or "")
            distribution_ids.append(builder.add(
                other.get("path"), f"{resource.get('title') or name} ({fmt.capitalize()})", other.get("mediatype"),
                other.get("bytes"), other.get("hash"), fmt, schema, f"autre format de « {name} »"))
    for extra in extra_distributions:
        distribution_ids.append(builder.add(
            extra.get("path"), extra.get("title"), extra.get("mediatype"), extra.get("bytes"), extra.get("sha256"),
            extra.get("format"), extra.get("conforms_to"), "distribution supplémentaire"))

    # Consistency with the datapackage: every path it declares must be a distribution.
    declared = {r.get("path") for r in package["resources"]} | {
        o.get("path") for r in package["resources"] for o in r.get("autres_formats") or []}
    missing = sorted(p for p in declared if p not in builder.paths)
    if missing:
        raise ValueError(f"catalogue DCAT : fichiers du datapackage sans distribution : {', '.join(missing)}")

    publisher_node = {"@type": "foaf:Organization", "foaf:name": publisher}
    contact = {"@type": "vcard:Organization", "vcard:fn": publisher}
    if contact_email:
        contact["vcard:hasEmail"] = _ref(f"mailto:{contact_email}")
    if builder.base:
        contact["vcard:hasURL"] = _ref(builder.url("index.html"))

    dataset = {
        "@id": builder.node_id("jeu-de-donnees"),
        "@type": "dcat:Dataset",
        "dct:identifier": package.get("name") or "jeu-de-donnees",
        "dct:title": _fr(package["title"]),
        "dct:description": _fr(package["description"]),
        "dcat:keyword": [_fr(k) for k in package.get("keywords") or []],
        "dct:license": _ref(licence),
        "dct:accessRights": _ref(f"{_EU}access-right/PUBLIC"),
        "dct:publisher": publisher_node,
        "dcat:contactPoint": contact,
        "dct:issued": _datetime_literal(issued) if issued else modified,
        "dct:modified": modified,
        "dct:language": _ref(f"{_EU}language/FRA"),
        "dct:spatial": _ref(f"{_EU}country/FRA"),
        "dcat:theme": [_ref(f"{_EU}data-theme/GOVE"), _ref(f"{_EU}data-theme/ECON")],
        "dcat:distribution": [_ref(i) for i in distribution_ids],
    }
    for source in package.get("sources") or []:
        if isinstance(source, dict) and source.get("path"):
            dataset.setdefault("dct:source", []).append(_ref(source["path"]))
    if builder.base:
        dataset["dcat:landingPage"] = _ref(builder.url("index.html"))
    if years:
        first, last = min(int(y) for y in years), max(int(y) for y in years)
        dataset["dct:temporal"] = {
            "@type": "dct:PeriodOfTime",
            "dcat:startDate": _typed(f"{first:04d}-01-01", "date"),
            "dcat:endDate": _typed(f"{last:04d}-12-31", "date"),
        }
    if version:
        dataset["dcat:version"] = version
        dataset["adms:versionNotes"] = _fr(f"Publication {version}")
    if frequency:
        if frequency not in FREQUENCIES:
            raise ValueError(f"catalogue DCAT : fréquence {frequency!r} inconnue ({', '.join(sorted(FREQUENCIES))})")
        dataset["dct:accrualPeriodicity"] = _ref(f"{_EU}frequency/{frequency}")

    catalog = {
        "@id": builder.node_id("catalogue"),
        "@type": "dcat:Catalog",
        "dct:title": _fr(f"Catalogue — {package['title']}"),
        "dct:description": _fr(f"Catalogue DCAT-AP de la publication : {package['title']}."),
        "dct:publisher": publisher_node,
        "dct:language": _ref(f"{_EU}language/FRA"),
        "dct:license": _ref(licence),
        "dct:modified": modified,
        "dcat:dataset": [_ref(dataset["@id"])],
    }
    if builder.base:
        catalog["foaf:homepage"] = _ref(builder.url("index.html"))
    return {"@context": dict(CONTEXT), "@graph": [catalog, dataset, *builder.nodes]}


def write_dcat(folder: Path, package: dict | None, base_url: str | None, extra_distributions: list[dict],
               **options) -> Path:
    """Write ``dcat_catalog(...)`` to ``folder/catalog.jsonld`` (atomic); ``package`` None reads
    ``folder/datapackage.json``. ``options`` go to ``dcat_catalog`` (years, version, issued…)."""
    folder = Path(folder)
    if package is None:
        source = folder / "datapackage.json"
        try:
            package = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{source} : datapackage illisible ({exc})") from exc
    document = dcat_catalog(package, base_url, extra_distributions, **options)
    target = folder / CATALOG_NAME
    atomic_write_text(target, json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    return target
