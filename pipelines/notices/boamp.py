"""BOAMP notices into avis rows, whatever the channel and the schema version.

Channels: Opendatasoft Explore v2.1 records (``/records`` pages and ``/exports/json|jsonl``: flat index fields
plus ``gestion``/``donnees`` JSON strings), DILA open-data XML (``<ANNONCE>``, schemas v230/v240), and the
retired DILA API JSON (the v230 mirror with lower-case keys, epoch-ms dates, null for absent elements).

``donnees`` depends on ``source_schema`` (reference/sources.md §1.2):
- v010/v110 (2006-2015): ``IDENT``, ``OBJET/CPV_OBJ``, ``PROCEDURE/@type``;
- v230/v240 (2015-2023): the XML of the DILA files turned into JSON (``IDENTITE``, ``OBJET/CPV/PRINCIPAL``,
  ``PROCEDURE/TYPE_PROCEDURE/{OUVERT|…|PARTENARIAT_INNOVATION}``, empty elements as ``""``);
- 3.2.5 (mid-October 2023 on): ``{"EFORMS": {"ContractNotice": {UBL as JSON}}}`` for EU notices, read by the
  eForms parser of ``ted.py``; ``{"MAPA": …}`` / ``{"FNSimple": …}`` for national notices, whose layout is not
  documented publicly: only the CPV code, the buyer's SIRET and an innovation partnership are looked for
  there, by key name, the index fields giving the rest.

The three v230 channels share one reader: every document is first turned into a "folded tree" (dicts whose
keys are lower case without separators: ``TYPE_PROCEDURE`` and ``typeprocedure`` are both ``typeprocedure``),
where an element that is present is any non-null value (``""`` for an empty XML element, the serialised empty
element in the retired API) and an absent one is missing or null.

Index fields (``dateparution``, ``nomacheteur``, ``objet``, ``type_procedure``…) come first, the notice body
fills what they leave empty. Buyers are French unless the notice says otherwise: ``acheteur_pays`` is FRA.
"""

from __future__ import annotations

import re

from pipelines.decp.values import clean_text, fold, parse_amount, parse_cpv

from . import (
    BOAMP_DILA_API_JSON,
    BOAMP_DILA_XML,
    BOAMP_ODS_JSON,
    MAX_DEPTH,
    NoticeRejected,
    RowBuilder,
    boamp_url,
    depth_of,
    embedded_json,
    local,
    parse_xml,
    ted_number,
)
from .ted import EFORMS_ROOTS, eforms_fields, eforms_from_json, eforms_publication

# --- folded trees ------------------------------------------------------------------------------------------------


def fold_key(key: object) -> str:
    return re.sub(r"[^a-z0-9]", "", fold(str(key)))


def fold_tree(value: object) -> object:
    """JSON value with every key folded; repeated keys after folding become a list."""
    if isinstance(value, dict):
        out: dict = {}
        for key, child in value.items():
            _merge(out, fold_key(key), fold_tree(child))
        return out
    if isinstance(value, list):
        return [fold_tree(item) for item in value]
    return value


def element_tree(element) -> object:
    """XML element as a folded tree: leaves are their text (``""`` when empty), repeated children a list."""
    children = [child for child in element if local(child.tag)]
    if not children:
        return (element.text or "").strip()
    out: dict = {}
    for child in children:
        _merge(out, fold_key(local(child.tag)), element_tree(child))
    return out


def _merge(out: dict, key: str, value: object) -> None:
    if key not in out:
        out[key] = value
    elif isinstance(out[key], list) and not isinstance(value, list):
        out[key].append(value)
    else:
        out[key] = [out[key], value]


def _get(tree: object, *path: str) -> object:
    """Value at ``path``; at each step a list stands for its first element."""
    node = tree
    for key in path:
        if isinstance(node, list):
            node = next((item for item in node if item is not None), None)
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _all(node: object) -> list:
    if node is None:
        return []
    return [item for item in node if item is not None] if isinstance(node, list) else [node]


def _scalar(node: object) -> object:
    """A leaf value: text of a leaf, of an attribute-bearing leaf (``{"devise": …, "text": …}``), or a list's first."""
    if isinstance(node, list):
        return next((value for value in (_scalar(item) for item in node) if value not in (None, "")), None)
    if isinstance(node, dict):
        for key in ("text", "value", "valeur", ""):
            if key in node and not isinstance(node[key], (dict, list)):
                return node[key]
        return None
    return node


def _present(node: object) -> bool:
    """An element is present when its value is not null (the retired API writes a dict of nulls for a present
    block whose options are all absent, e.g. ``appeloffre`` of a standard call for tenders)."""
    if isinstance(node, list):
        return any(item is not None for item in node)
    return node is not None


def _choice(node: object) -> str | None:
    """The chosen value of an enumeration written as one present empty element (``{"JOUE": ""}``)."""
    for item in _all(node):
        if isinstance(item, dict):
            for key, value in item.items():
                if key not in ("text", "titre") and _present(value):
                    return key
        elif isinstance(item, str) and item.strip():
            return fold_key(item)
    return None


def _walk(tree: object, skip: tuple[str, ...] = ()):
    """(key, value) pairs of a folded tree, depth first, leaving out subtrees whose key contains a ``skip`` word."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed(node))
        elif isinstance(node, dict):
            items = [(k, v) for k, v in node.items() if not any(word in k for word in skip)]
            for key, value in items:
                yield key, value
            stack.extend(value for _, value in reversed(items))


# --- vocabularies ------------------------------------------------------------------------------------------------

_NATURE_TYPES = {
    "appeloffre": "avis_marche", "avismarche": "avis_marche",
    "attribution": "avis_attribution", "resultat": "avis_attribution",
    "preinformation": "avis_preinformation", "avispreinformation": "avis_preinformation",
    "rectificatif": "rectificatif", "annulation": "annulation", "modification": "modification",
}


def boamp_type(nature: object, statut: object = None) -> str:
    """type_avis of a BOAMP nature (``APPEL_OFFRE``…) and statut/etat (``RECTIFICATIF``, ``AVIS_ANNULE``…)."""
    status = fold_key(statut) if statut else ""
    if "annul" in status:
        return "annulation"
    if "rectif" in status:
        return "rectificatif"
    if "modif" in status:
        return "modification"
    return _NATURE_TYPES.get(fold_key(nature) if nature else "", "autre")


_TED_KEYS = frozenset({"ted", "refted", "referenceted", "numeroted", "noticeted", "noted", "idted"})
_CPV_KEYS = frozenset({"cpv", "codecpv", "cpvprincipal", "cpvobj", "classificationcpv"})
_SIRET_KEYS = frozenset({"codeidentnational", "siret", "codeidentificationnational", "siretacheteur"})


# --- DILA v230/v240 (XML, ODS JSON, retired API JSON) ------------------------------------------------------------


def _sum_amounts(values: list, builder: RowBuilder) -> float | None:
    total, seen = 0.0, False
    for value in values:
        amount, anomaly = parse_amount(_scalar(value))
        builder.flag(anomaly)
        if amount is not None:
            total, seen = total + amount, True
    return round(total, 2) if seen else None


def _awarded(attribution: object, builder: RowBuilder) -> float | None:
    """Awarded amount: per decision (lot) the largest MONTANT (co-contractors share one contract), summed."""
    for field in ("montant", "montantmaxi"):
        per_decision = []
        for decision in _all(_get(attribution, "decision")):
            amounts = [parse_amount(_scalar(_get(r, field)))[0] for r in _all(_get(decision, "renseignement"))]
            amounts = [a for a in amounts if a is not None]
            if amounts:
                per_decision.append(max(amounts))
        if per_decision:
            return _sum_amounts(per_decision, builder)
    return None


def _ted_reference(*trees: object) -> str | None:
    """The notice's own TED publication number when a JOUE/TED reference field gives one (prior notices excluded)."""
    for tree in trees:
        for key, value in _walk(tree, skip=("anterieur", "annoncelie", "ancien")):
            if ("joue" in key or "ojs" in key or key in _TED_KEYS) and isinstance(value, (str, int)):
                number = ted_number(value)
                if number:
                    return number
    return None


def dila_fields(tree: object, builder: RowBuilder) -> None:
    """Fill ``builder`` from a v230/v240 notice as a folded tree ``{"gestion": …, "donnees": …}``."""
    gestion, donnees = _get(tree, "gestion"), _get(tree, "donnees")
    reference = _get(gestion, "reference")
    type_avis = _get(reference, "typeavis")
    builder.put("type_avis", boamp_type(_choice(_get(type_avis, "nature")), _choice(_get(type_avis, "statut"))))
    famille = _choice(_get(type_avis, "famille"))
    builder.put("famille", famille.upper() if famille else None)
    indexation = _get(gestion, "indexation")
    builder.date("date_publication", _scalar(_get(indexation, "datepublication")))

    identite = _get(donnees, "identite")
    builder.text("acheteur_nom", _scalar(_get(identite, "denomination")))
    builder.text("acheteur_id", _scalar(_get(identite, "codeidentnational")))
    builder.country(_scalar(_get(identite, "pays")))
    objet = _get(donnees, "objet")
    builder.text("objet", _scalar(_get(indexation, "resumeobjet")), _scalar(_get(objet, "titremarche")),
                 _scalar(_get(objet, "objetcomplet")))
    lots = _all(_get(objet, "lots", "lot"))
    builder.cpv(_scalar(_get(objet, "cpv", "principal")), *[_scalar(_get(lot, "cpv", "principal")) for lot in lots])
    builder.nature(_choice(_get(objet, "typemarche")))
    builder.procedure(_choice(_get(donnees, "procedure", "typeprocedure")))
    if _present(_get(donnees, "procedure", "typeprocedure", "partenariatinnovation")):
        builder.signal("procedure_partenariat_innovation")
    builder.date("date_limite_reponse", _scalar(_get(donnees, "conditiondelai", "receptoffres")),
                 _scalar(_get(donnees, "conditiondelai", "receptcandidat")),
                 _scalar(_get(indexation, "datelimitereponse")))
    builder.put("nb_lots", len(lots) if lots else None)

    attribution = _get(donnees, "attribution")
    if attribution is not None:
        builder.amount(_scalar(_get(attribution, "valeurtotale")), "attribue")
        builder.amount(_awarded(attribution, builder), "attribue")
    builder.amount(_scalar(_get(objet, "caracteristiques", "valeurtotale")), "estime")
    builder.amount(_sum_amounts([_get(lot, "valeur") for lot in lots], builder), "estime")
    builder.put("reference_ted", _ted_reference(gestion, donnees))


def _v110_fields(gestion: object, donnees: object, builder: RowBuilder) -> None:
    """Fill ``builder`` from a Boamp_v110 body (2006-2015)."""
    builder.put("type_avis", boamp_type(_choice(_get(gestion, "reference", "typeavis", "nature")),
                                        _choice(_get(gestion, "reference", "typeavis", "statut"))))
    famille = _choice(_get(gestion, "reference", "typeavis", "famille"))
    builder.put("famille", famille.upper() if famille else None)
    builder.date("date_publication", _scalar(_get(gestion, "indexation", "datepublication")))
    builder.text("acheteur_nom", _scalar(_get(donnees, "ident", "nom")),
                 _scalar(_get(gestion, "indexation", "nomacheteurv1")))
    builder.text("objet", _scalar(_get(gestion, "indexation", "resumeobjet")),
                 _scalar(_get(donnees, "objet", "objetcomplet")))
    builder.cpv(_scalar(_get(donnees, "objet", "cpvobj")))
    builder.procedure(_scalar(_get(donnees, "procedure", "type")),
                      _scalar(_get(gestion, "indexation", "typeprocedurev1")))
    info = _get(donnees, "info")
    if isinstance(info, dict):
        builder.nature(*[key for key in ("travaux", "fournitures", "services") if info.get(key) is not None])
    builder.date("date_limite_reponse", _scalar(_get(gestion, "indexation", "datelimitereponse")))
    numbers = _all(_get(donnees, "lots", "numlot"))
    builder.put("nb_lots", len(numbers) if numbers else None)


def _national_fields(donnees: object, builder: RowBuilder) -> None:
    """3.2.5 national notices (``MAPA``, ``FNSimple``): CPV, SIRET and innovation partnership by key name."""
    for key, value in _walk(donnees):
        if key in _CPV_KEYS and builder["code_cpv"] is None:
            candidate = _scalar(value)
            if candidate is None and isinstance(value, dict):
                candidate = _scalar(value.get("principal") or value.get("code") or value.get("codeprincipal"))
            if parse_cpv(candidate)[0]:
                builder.cpv(candidate)
        elif key in _SIRET_KEYS:
            builder.text("acheteur_id", _scalar(value))
        elif key == "partenariatinnovation" and value not in (None, False, "false"):
            builder.signal("procedure_partenariat_innovation")
        elif key in ("typeprocedure", "procedure", "procedurepassation") and not isinstance(value, dict):
            builder.procedure(_scalar(value))
        elif key == "typeprocedure" and isinstance(value, dict):
            builder.procedure(_choice(value))


# --- entry points ------------------------------------------------------------------------------------------------


def _dila_row(tree: object, fmt: str, idweb_path: str) -> dict:
    """Row of a DILA notice tree (XML or the retired API's JSON: the same v230 structure, keys folded)."""
    idweb = clean_text(_scalar(_get(tree, "gestion", "reference", "idweb")))
    if idweb is None:
        raise NoticeRejected("identifiant_manquant", f"avis BOAMP sans {idweb_path}")
    builder = RowBuilder("boamp", fmt)
    builder.put("id_avis", f"boamp:{idweb}")
    builder.put("url", boamp_url(idweb))
    dila_fields(tree, builder)
    builder.country("FRA")
    return builder.build()


def parse_dila_xml(notice) -> dict:
    """Row of one DILA XML notice: an ``<ANNONCE>`` element or the bytes of a file holding one."""
    root = parse_xml(notice) if isinstance(notice, (bytes, bytearray)) else notice
    if local(root.tag) != "ANNONCE":
        raise NoticeRejected("format_non_reconnu", f"XML de racine <{local(root.tag)}> : pas un avis BOAMP")
    return _dila_row(element_tree(root), BOAMP_DILA_XML, "IDWEB (GESTION/REFERENCE/IDWEB)")


def parse_dila_api_json(document: object) -> dict:
    """Row of one notice of the retired DILA API (``{"gestion": {…}, "donnees": {…}}``, lower-case keys)."""
    if not isinstance(document, dict):
        raise NoticeRejected("enregistrement_non_objet", "avis BOAMP qui n'est pas un objet JSON")
    if depth_of(document) > MAX_DEPTH:
        raise NoticeRejected("enregistrement_invalide", f"avis imbriqué sur plus de {MAX_DEPTH} niveaux")
    return _dila_row(fold_tree(document), BOAMP_DILA_API_JSON, "idweb (gestion.reference.idweb)")


def _unwrap(record: dict) -> dict:
    """Explore v2.0 wrapped records in ``record.fields`` (v1: ``fields``); v2.1 records are flat."""
    inner = record.get("record") if isinstance(record.get("record"), dict) else record
    fields = inner.get("fields")
    return fields if isinstance(fields, dict) and "idweb" in fields else record


def parse_boamp_record(record: object, format_source: str = BOAMP_ODS_JSON) -> dict:
    """Row of one Opendatasoft record of the ``boamp`` dataset (``donnees``/``gestion`` as JSON strings)."""
    if not isinstance(record, dict):
        raise NoticeRejected("enregistrement_non_objet", "enregistrement BOAMP qui n'est pas un objet JSON")
    record = _unwrap(record)
    idweb = clean_text(record.get("idweb"))
    gestion, gestion_anomaly = embedded_json(record.get("gestion"), "gestion", idweb)
    donnees, donnees_anomaly = embedded_json(record.get("donnees"), "donnees", idweb)
    gestion, body = fold_tree(gestion), fold_tree(donnees)
    idweb = idweb or clean_text(_scalar(_get(gestion, "reference", "idweb"))) or clean_text(
        _scalar(_get(gestion, "nojo")))
    if idweb is None:
        raise NoticeRejected("identifiant_manquant", "enregistrement BOAMP sans idweb")

    builder = RowBuilder("boamp", format_source)
    builder.flag(gestion_anomaly)
    builder.flag(donnees_anomaly)
    builder.put("id_avis", f"boamp:{idweb}")
    type_avis = boamp_type(record.get("nature"), record.get("etat"))
    builder.put("type_avis", type_avis if type_avis != "autre" else None)  # the body may know better
    builder.date("date_publication", record.get("dateparution"))
    builder.text("acheteur_nom", record.get("nomacheteur"))
    builder.text("objet", record.get("objet"))
    builder.procedure(record.get("type_procedure"), record.get("procedure_libelle"))
    for nature in record.get("type_marche") if isinstance(record.get("type_marche"), list) else [
            record.get("type_marche")]:
        builder.nature(nature)
    builder.date("date_limite_reponse", record.get("datelimitereponse"))
    builder.text("famille", record.get("famille"))
    builder.text("id_procedure", record.get("contractfolderid"))
    builder.text("url", record.get("url_avis"))
    builder.put("url", boamp_url(idweb))

    top = {fold_key(key) for key in donnees} if isinstance(donnees, dict) else set()
    eforms_root = eforms_from_json(donnees) if top & ({"eforms"} | {fold_key(k) for k in EFORMS_ROOTS}) else None
    if eforms_root is not None:
        eforms_fields(eforms_root, builder)
        builder.put("reference_ted", eforms_publication(eforms_root)[0])
    elif top & {"mapa", "fnsimple", "fns", "dsp"}:
        _national_fields(body, builder)
    elif "ident" in top:
        _v110_fields(gestion, body, builder)
    elif body:
        dila_fields({"gestion": gestion, "donnees": body}, builder)
    if builder["famille"] is not None:
        builder.values["famille"] = builder["famille"].upper()
    builder.country("FRA")
    return builder.build()
