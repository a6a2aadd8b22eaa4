"""TED notices into avis rows: eForms UBL XML, legacy TED XML (R2.0.x ``TED_EXPORT``), TED v3 search rows.

eForms (reference/sources.md §2.4): buyer = the ``efac:Organization`` whose ``cac:PartyIdentification/cbc:ID``
is the one of ``cac:ContractingParty/cac:Party`` (name, ``cac:PartyLegalEntity/cbc:CompanyID`` as
``acheteur_id``, country); publication number and date from ``efac:Publication``; CPV, nature and title at
procedure level, else from the first lot; amount awarded (``efac:NoticeResult``) before estimated
(``cac:RequestedTenderTotal``). Structured signals: BT-105 ``innovation``, BT-06 ``inn-pur``, BT-776 codes per
lot (current and retired), BT-136 ``rd``/``resd``.

The same eForms parser reads BOAMP's eForms-era ``donnees`` (``{"EFORMS": {"ContractNotice": {...}}}``): the
JSON is turned back into UBL elements by ``eforms_from_json`` first.
"""

from __future__ import annotations

import copy

from lxml import etree

from pipelines.decp.values import clean_text, is_missing

from . import (
    TED_EFORMS_XML,
    TED_SEARCH_JSON,
    TED_XML,
    NoticeRejected,
    RowBuilder,
    local,
    to_date,
    ted_number,
    ted_url,
)

NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "ext": "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2",
    "efext": "http://data.europa.eu/p27/eforms-ubl-extensions/1",
    "efac": "http://data.europa.eu/p27/eforms-ubl-extension-aggregate-components/1",
    "efbc": "http://data.europa.eu/p27/eforms-ubl-extension-basic-components/1",
}
EFORMS_ROOTS = {
    "ContractNotice": "urn:oasis:names:specification:ubl:schema:xsd:ContractNotice-2",
    "PriorInformationNotice": "urn:oasis:names:specification:ubl:schema:xsd:PriorInformationNotice-2",
    "ContractAwardNotice": "urn:oasis:names:specification:ubl:schema:xsd:ContractAwardNotice-2",
}
_ROOT_TYPES = {
    "ContractNotice": "avis_marche",
    "PriorInformationNotice": "avis_preinformation",
    "ContractAwardNotice": "avis_attribution",
}

# BT-06 (strategic-procurement) and BT-776 (innovative-acquisition) codes → signal codes.
STRATEGIC_SIGNALS = {"inn-pur": "eforms_inn_pur"}
INNOVATIVE_ACQUISITION_SIGNALS = {
    "mar-nov": "eforms_mar_nov",
    "proc-innov": "eforms_proc_innov",
    "prod-innov": "eforms_prod_innov",
    "rd-act": "eforms_rd_act",
    # retired in SDK 1.6, still in older notices
    "buy-eff": "eforms_innov_ancien",
    "fp-requ": "eforms_innov_ancien",
    "org-nov": "eforms_innov_ancien",
    "other": "eforms_innov_ancien",
}
# BT-136 direct award justifications about research and development.
RD_JUSTIFICATIONS = frozenset({"rd", "resd"})
# Legacy TED elements with the same meaning.
LEGACY_RD_ELEMENTS = frozenset({"D_PURE_RESEARCH", "D_OTHER_SERVICES", "D_MANUF_FOR_RESEARCH"})

_EXT = "ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/efext:EformsExtension"


# --- eForms XML --------------------------------------------------------------------------------------------------


def _text(element) -> str | None:
    return None if element is None else clean_text(element.text)


def _find_text(element, path: str) -> str | None:
    return None if element is None else _text(element.find(path, NS))


def _prefer_french(elements) -> str | None:
    texts = [(e.get("languageID"), _text(e)) for e in elements]
    texts = [(lang, text) for lang, text in texts if text]
    for lang, text in texts:
        if (lang or "").upper() in ("FRA", "FR"):
            return text
    return texts[0][1] if texts else None


def _lots(root) -> list:
    return root.findall("cac:ProcurementProjectLot", NS)


def _is_lot(lot) -> bool:
    scheme = lot.find("cbc:ID", NS)
    return scheme is None or (scheme.get("schemeName") or "Lot").casefold() == "lot"


def _additional_codes(project) -> list[tuple[str, str]]:
    """(listName, code) of the ProcurementAdditionalType entries of one cac:ProcurementProject."""
    if project is None:
        return []
    codes = []
    for code in project.iterfind("cac:ProcurementAdditionalType/cbc:ProcurementTypeCode", NS):
        value = _text(code)
        if value:
            codes.append(((code.get("listName") or "").strip(), value.strip().casefold()))
    return codes


def lot_innovation_codes(root) -> dict[str, list[str]]:
    """BT-06 ``inn-pur`` and BT-776 codes per lot id (key ``procedure`` for codes at procedure level)."""
    found: dict[str, list[str]] = {}
    projects = [("procedure", root.find("cac:ProcurementProject", NS))]
    projects += [(_find_text(lot, "cbc:ID") or f"lot-{i + 1}", lot.find("cac:ProcurementProject", NS))
                 for i, lot in enumerate(_lots(root))]
    for key, project in projects:
        codes = sorted({code for list_name, code in _additional_codes(project)
                        if (list_name == "strategic-procurement" and code in STRATEGIC_SIGNALS)
                        or (list_name == "innovative-acquisition" and code in INNOVATIVE_ACQUISITION_SIGNALS)})
        if codes:
            found[key] = codes
    return found


def notice_type(code: object) -> str | None:
    """type_avis of an eForms notice type code (BT-02: ``cn-standard``, ``can-modif``, ``pin-only``...)."""
    code = (clean_text(code) or "").casefold()
    if not code:
        return None
    if code.startswith("pin-"):
        return "avis_preinformation"
    if code.startswith("cn-"):
        return "avis_marche"
    if code == "can-modif":
        return "modification"
    if code.startswith("can-"):
        return "avis_attribution"
    if code == "corr":
        return "rectificatif"
    return "autre"  # veat, subco, compl, brin-*, qu-sy...


def _eforms_type(root, extension) -> str:
    if extension is not None and extension.find("efac:Changes", NS) is not None:
        return "rectificatif"
    return notice_type(_find_text(root, "cbc:NoticeTypeCode")) or _ROOT_TYPES.get(local(root.tag) or "", "autre")


def _buyer(root, extension):
    organisations = {}
    if extension is not None:
        for company in extension.iterfind("efac:Organizations/efac:Organization/efac:Company", NS):
            org_id = _find_text(company, "cac:PartyIdentification/cbc:ID")
            if org_id:
                organisations.setdefault(org_id, company)
    for ref in root.iterfind("cac:ContractingParty/cac:Party/cac:PartyIdentification/cbc:ID", NS):
        company = organisations.get(_text(ref) or "")
        if company is not None:
            return company
    return None


def _amounts(elements, currency_attribute: str = "currencyID") -> list[tuple[str | None, str | None]]:
    return [(_text(e), e.get(currency_attribute)) for e in elements if e is not None]


def _sum(amounts: list[tuple[str | None, str | None]], builder: RowBuilder) -> str | None:
    """Sum of (amount, currency) pairs in euros, as text; None when there is none or one is in another currency.

    Nothing is computed (nor flagged) once the row has its amount.
    """
    if builder["montant"] is not None:
        return None
    total = 0.0
    seen = False
    for value, currency in amounts:
        if value is None:
            continue
        if (currency or "EUR").upper() != "EUR":
            builder.flag("montant_devise")
            return None
        try:
            total += float(value)
        except ValueError:
            builder.flag("montant_invalide")
            return None
        seen = True
    return repr(round(total, 2)) if seen else None


def _earliest(elements) -> object:
    days = [to_date(_text(e))[0] for e in elements]
    days = [d for d in days if d is not None]
    return min(days) if days else None


def eforms_fields(root, builder: RowBuilder) -> None:
    """Fill ``builder`` from one eForms notice (root element), without the identity columns."""
    extension = root.find(_EXT, NS)
    project = root.find("cac:ProcurementProject", NS)
    lots = _lots(root)
    real_lots = [lot for lot in lots if _is_lot(lot)]
    lot_projects = [lot.find("cac:ProcurementProject", NS) for lot in lots]
    lot_projects = [p for p in lot_projects if p is not None]

    builder.put("type_avis", _eforms_type(root, extension))
    company = _buyer(root, extension)
    if company is not None:
        builder.text("acheteur_nom", _prefer_french(company.findall("cac:PartyName/cbc:Name", NS)))
        builder.text("acheteur_id", _find_text(company, "cac:PartyLegalEntity/cbc:CompanyID"))
        builder.country(_find_text(company, "cac:PostalAddress/cac:Country/cbc:IdentificationCode"))
    for candidate in [project, *lot_projects]:
        if candidate is not None:
            builder.text("objet", _prefer_french(candidate.findall("cbc:Name", NS)))
    for candidate in [project, *lot_projects]:
        builder.cpv(_find_text(candidate, "cac:MainCommodityClassification/cbc:ItemClassificationCode"))
    for candidate in [project, *lot_projects]:
        if candidate is not None:
            for code in candidate.iterfind("cbc:ProcurementTypeCode", NS):
                if code.get("listName") in (None, "contract-nature"):
                    builder.nature(_text(code))
    builder.procedure(_find_text(root, "cac:TenderingProcess/cbc:ProcedureCode"))
    builder.text("id_procedure", _find_text(root, "cbc:ContractFolderID"))
    builder.put("nb_lots", len(real_lots))

    for period in ("cac:TenderSubmissionDeadlinePeriod", "cac:ParticipationRequestReceptionPeriod",
                   ".//efac:InterestExpressionReceptionPeriod"):
        ends = [end for lot in lots for end in lot.iterfind(f"cac:TenderingProcess/{period}/cbc:EndDate", NS)]
        builder.put("date_limite_reponse", _earliest(ends))

    result = extension.find("efac:NoticeResult", NS) if extension is not None else None
    if result is not None:
        total = result.find("cbc:TotalAmount", NS)
        if total is not None:
            builder.amount(_text(total), "attribue", total.get("currencyID"))
        winners = {_text(ref) for lot_result in result.iterfind("efac:LotResult", NS)
                   if (_find_text(lot_result, "cbc:TenderResultCode") or "selec-w") == "selec-w"
                   for ref in lot_result.iterfind("efac:LotTender/cbc:ID", NS)}
        tenders = [t.find("cac:LegalMonetaryTotal/cbc:PayableAmount", NS) for t in result.iterfind("efac:LotTender", NS)
                   if _find_text(t, "cbc:ID") in winners]
        builder.amount(_sum(_amounts(tenders), builder), "attribue")
    if project is not None:
        estimate = project.find("cac:RequestedTenderTotal/cbc:EstimatedOverallContractAmount", NS)
        if estimate is not None:
            builder.amount(_text(estimate), "estime", estimate.get("currencyID"))
    lot_estimates = [p.find("cac:RequestedTenderTotal/cbc:EstimatedOverallContractAmount", NS) for p in lot_projects]
    builder.amount(_sum(_amounts(lot_estimates), builder), "estime")

    for candidate in [project, *lot_projects]:
        for list_name, code in _additional_codes(candidate):
            if list_name == "strategic-procurement" and code in STRATEGIC_SIGNALS:
                builder.signal(STRATEGIC_SIGNALS[code])
            elif list_name == "innovative-acquisition" and code in INNOVATIVE_ACQUISITION_SIGNALS:
                builder.signal(INNOVATIVE_ACQUISITION_SIGNALS[code])
    for reason in root.iterfind(".//cbc:ProcessReasonCode", NS):
        if reason.get("listName") == "direct-award-justification" and (_text(reason) or "").casefold() in \
                RD_JUSTIFICATIONS:
            builder.signal("attribution_directe_rd")


def eforms_publication(root) -> tuple[str | None, object]:
    """(TED publication number, publication date text) of an eForms notice, when it has been published."""
    extension = root.find(_EXT, NS)
    publication = extension.find("efac:Publication", NS) if extension is not None else None
    return (ted_number(_find_text(publication, "efbc:NoticePublicationID")),
            _find_text(publication, "efbc:PublicationDate"))


def parse_eforms(root) -> dict:
    """Row of one TED eForms notice (ContractNotice, PriorInformationNotice, ContractAwardNotice...)."""
    number, published = eforms_publication(root)
    if number is None:
        raise NoticeRejected(
            "identifiant_manquant",
            "avis eForms sans numéro de publication TED (efac:Publication/efbc:NoticePublicationID)",
            _find_text(root, "cbc:ContractFolderID"),
        )
    builder = RowBuilder("ted", TED_EFORMS_XML)
    builder.put("id_avis", f"ted:{number}")
    builder.date("date_publication", published)
    builder.put("url", ted_url(number))
    eforms_fields(root, builder)
    return builder.build()


# --- eForms as JSON (BOAMP donnees) ------------------------------------------------------------------------------

# UBL attributes written without "@" by some XML-to-JSON converters.
_ATTRIBUTES = frozenset({
    "listName", "listID", "listAgencyID", "listVersionID", "schemeName", "schemeID", "schemeAgencyID",
    "languageID", "currencyID", "unitCode",
})
_TEXT_KEYS = frozenset({"#text", "$", "_text", "#value"})
_EXTENSION_WRAPPERS = {"UBLExtensions": "ext", "UBLExtension": "ext", "ExtensionContent": "ext",
                       "EformsExtension": "efext"}


def eforms_from_json(document: object):
    """UBL element tree of an eForms notice written as JSON (``{"EFORMS": {"ContractNotice": {...}}}``).

    Convention (xmltodict-like): keys are qualified names (``cbc:ID``); ``@name`` keys are attributes,
    ``#text`` the text; a list is a repeated element. A key without prefix is given one from its name: the
    eForms extension names (``efac:``/``efbc:``) are known, otherwise ``cac:`` for an aggregate and ``cbc:``
    for a leaf. Returns None when the document holds no eForms notice.
    """
    if not isinstance(document, dict):
        return None
    for key, value in document.items():
        name = key.split(":")[-1]
        if name.upper() == "EFORMS" and isinstance(value, dict):
            return eforms_from_json(value)
        if name in EFORMS_ROOTS and isinstance(value, dict):
            root = etree.Element(f"{{{EFORMS_ROOTS[name]}}}{name}", nsmap={None: EFORMS_ROOTS[name], **NS})
            _fill(root, value)
            return root
    return None


# eForms extension components (SDK 1.x), for keys written without their prefix.
_EFAC = frozenset({
    "AggregatedAmounts", "AppealDecision", "AppealInformation", "AppealProcessingParty", "AppealRequestsStatistics",
    "AppealStatus", "AppealedItem", "AppealsInformation", "AwardCriterionParameter", "BuyerReviewComplainants",
    "BuyerReviewRequestsStatistics", "Change", "ChangeReason", "Changes", "Company", "ConcessionRevenue",
    "ContractModification", "ContractReference", "Decision", "DecisionReason", "DurationJustification",
    "FieldsPrivacy", "Funding", "InterestExpressionReceptionPeriod", "LotResult", "LotTender", "NoticePurpose",
    "NoticeResult", "NoticeSubType", "OfficialLanguages", "Organization", "Organizations", "Origin",
    "Publication", "ReceivedSubmissionsStatistics", "ReviewRequester", "ReviewStatus", "SelectionCriteria",
    "SettledContract", "StrategicProcurement", "StrategicProcurementInformation", "SubContractor",
    "SubcontractingTerm", "TenderLot", "TenderReference", "Tenderer", "TenderingParty", "TouchPoint",
    "UltimateBeneficialOwner",
})
_EFBC = frozenset({
    "AcquiringCPBIndicator", "AwardingCPBIndicator", "ChangeDescription", "ChangedNoticeIdentifier",
    "ChangedSectionIdentifier", "GazetteID", "ListedOnRegulatedMarketIndicator", "NaturalPersonIndicator",
    "NoticePublicationID", "OverallApproximateFrameworkContractsAmount", "OverallMaximumFrameworkContractsAmount",
    "ParameterCode", "ParameterNumeric", "PublicationDate", "StatisticsCode", "StatisticsNumeric",
    "TenderRankedIndicator", "TenderVariantIndicator", "TransmissionDate", "TransmissionTime",
    "FrameworkMaximumAmount", "FrameworkEstimatedAmount", "ProcurementCategoryCode", "ApplicableLegalBasis",
})


def _qualified(key: str, value: object) -> str:
    prefix, _, name = key.rpartition(":")
    if prefix not in NS:
        if name in _EXTENSION_WRAPPERS:
            prefix = _EXTENSION_WRAPPERS[name]
        elif name in _EFAC:
            prefix = "efac"
        elif name in _EFBC:
            prefix = "efbc"
        else:
            aggregate = isinstance(value, dict) and any(
                not k.startswith("@") and k not in _TEXT_KEYS and k not in _ATTRIBUTES for k in value)
            prefix = "cac" if aggregate else "cbc"
    return f"{{{NS[prefix]}}}{name}"


def _fill(element, value: object) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            if key.startswith("@xmlns") or key == "xmlns":
                continue
            if key.startswith("@") or key in _ATTRIBUTES:
                if child is not None and not isinstance(child, (dict, list)):
                    element.set(key.lstrip("@").split(":")[-1], _scalar(child))
                continue
            if key in _TEXT_KEYS:
                if child is not None and not isinstance(child, (dict, list)):
                    element.text = _scalar(child)
                continue
            for item in child if isinstance(child, list) else [child]:
                _fill(etree.SubElement(element, _qualified(key, item)), item)
    elif value is not None and not isinstance(value, list):
        element.text = _scalar(value)


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- legacy TED XML (R2.0.x) -------------------------------------------------------------------------------------

_LEGACY_FORM_TYPES = {
    "F01": "avis_preinformation", "F04": "avis_preinformation", "F16": "avis_preinformation",
    "F02": "avis_marche", "F05": "avis_marche", "F07": "autre", "F08": "autre", "F12": "avis_marche",
    "F17": "avis_marche", "F24": "avis_marche",
    "F03": "avis_attribution", "F06": "avis_attribution", "F13": "avis_attribution", "F18": "avis_attribution",
    "F19": "avis_attribution", "F25": "avis_attribution", "F15": "autre",
    "F14": "rectificatif", "F20": "modification",
}
_LEGACY_CONTRACT_TYPES = {"WORKS": "travaux", "SUPPLIES": "fournitures", "SERVICES": "services"}


def _strip_namespaces(root):
    root = copy.deepcopy(root)
    for element in root.iter():
        name = local(element.tag)
        if name is not None:
            element.tag = name
    return root


def _joined(element) -> str | None:
    """Text of an element and its <P> paragraphs."""
    if element is None:
        return None
    return clean_text(" ".join(t.strip() for t in element.itertext() if t.strip()))


def _legacy_type(form, root) -> str:
    """Notice type from the form (``F02_2014``...), else from ``TD_DOCUMENT_TYPE`` (code and English label)."""
    tag = form.tag if form is not None else ""
    if tag.split("_")[0] in _LEGACY_FORM_TYPES:
        return _LEGACY_FORM_TYPES[tag.split("_")[0]]
    document_type = root.find(".//CODIF_DATA/TD_DOCUMENT_TYPE")
    code = (document_type.get("CODE") or "") if document_type is not None else ""
    label = f"{_joined(document_type) or ''} {tag.replace('_', ' ')}".casefold()
    if code == "0" or "prior information" in label:
        return "avis_preinformation"
    if code == "7" or "award" in label:
        return "avis_attribution"
    if "corrigendum" in label or "additional information" in label:
        return "rectificatif"
    if code == "K" or "modification" in label:
        return "modification"
    if code == "3" or "contract" in label:
        return "avis_marche"
    return "autre"


def parse_ted_legacy(root) -> dict:
    """Row of one legacy TED notice (``TED_EXPORT``, R2.0.8/R2.0.9, namespaced or not)."""
    root = _strip_namespaces(root)
    number = ted_number(root.get("DOC_ID")) or ted_number(root.findtext(".//NOTICE_DATA/NO_DOC_OJS"))
    if number is None:
        raise NoticeRejected("identifiant_manquant", "avis TED sans numéro (DOC_ID, NO_DOC_OJS)")
    forms = [f for f in root.iterfind("FORM_SECTION/*") if isinstance(f.tag, str)]
    form = next((f for f in forms if (f.get("CATEGORY") or "").upper() == "ORIGINAL"), forms[0] if forms else None)
    builder = RowBuilder("ted", TED_XML)
    builder.put("id_avis", f"ted:{number}")
    builder.put("type_avis", _legacy_type(form, root))
    builder.date("date_publication", root.findtext(".//REF_OJS/DATE_PUB"),
                 root.findtext("CODED_DATA_SECTION//DATE_PUB"))
    uris = root.findall(".//NOTICE_DATA/URI_LIST/URI_DOC")
    french = [u for u in uris if (u.get("LG") or "").upper() == "FR"]
    builder.text("url", *[u.text for u in french + uris])
    builder.put("url", ted_url(number))
    if form is not None:
        body = form.find("CONTRACTING_BODY/ADDRESS_CONTRACTING_BODY")
        builder.text("acheteur_nom", body.findtext("OFFICIALNAME") if body is not None else None,
                     form.findtext(".//OFFICIALNAME"))
        builder.text("acheteur_id", body.findtext("NATIONALID") if body is not None else None)
        country = body.find("COUNTRY") if body is not None else form.find(".//COUNTRY")
        builder.country(country.get("VALUE") if country is not None else None)
        obj = form.find("OBJECT_CONTRACT")
        builder.text("objet", _joined(obj.find("TITLE")) if obj is not None else None,
                     _joined(form.find(".//TITLE_CONTRACT")))
        cpv = form.find("OBJECT_CONTRACT/CPV_MAIN/CPV_CODE")
        if cpv is None:
            cpv = form.find(".//CPV_MAIN/CPV_CODE")
        builder.cpv(cpv.get("CODE") if cpv is not None else None)
        contract_type = form.find("OBJECT_CONTRACT/TYPE_CONTRACT")
        if contract_type is not None:
            builder.put("nature_marche", _LEGACY_CONTRACT_TYPES.get((contract_type.get("CTYPE") or "").upper()))
        procedure = form.find("PROCEDURE")
        if procedure is not None:
            builder.procedure(*[child.tag for child in procedure if child.tag.startswith("PT_")])
            builder.date("date_limite_reponse", procedure.findtext("DATE_RECEIPT_TENDERS"))
        for element in form.iter():
            if element.tag == "PT_INNOVATION_PARTNERSHIP":
                builder.signal("procedure_partenariat_innovation")
            elif element.tag in LEGACY_RD_ELEMENTS:
                builder.signal("attribution_directe_rd")
        if obj is not None:
            lots = obj.findall("OBJECT_DESCR")
            builder.put("nb_lots", len(lots) if lots else None)
            total = obj.find("VAL_TOTAL")
            if total is not None:
                builder.amount(_text(total), "attribue", total.get("CURRENCY"))
            awarded = form.findall("AWARD_CONTRACT/AWARDED_CONTRACT/VALUES/VAL_TOTAL")
            builder.amount(_sum(_amounts(awarded, "CURRENCY"), builder), "attribue")
            estimate = obj.find("VAL_ESTIMATED_TOTAL")
            if estimate is not None:
                builder.amount(_text(estimate), "estime", estimate.get("CURRENCY"))
    if builder["acheteur_nom"] is None:
        builder.text("acheteur_nom", root.findtext(".//ML_AA_NAMES/AA_NAME"))
    if builder["code_cpv"] is None:
        cpv = root.find(".//NOTICE_DATA/ORIGINAL_CPV")
        builder.cpv(cpv.get("CODE") if cpv is not None else None)
    if builder["acheteur_pays"] is None:
        iso = root.find(".//NOTICE_DATA/ISO_COUNTRY")
        builder.country(iso.get("VALUE") if iso is not None else None)
    if builder["objet"] is None:
        titles = root.findall(".//ML_TITLES/ML_TI_DOC")
        french = [t for t in titles if (t.get("LG") or "").upper() == "FR"]
        builder.text("objet", *[_joined(t.find("TI_TEXT")) for t in french + titles])
    return builder.build()


# --- TED v3 search rows ------------------------------------------------------------------------------------------


def _values(value: object, prefer_french: bool = True) -> list:
    """Flatten a search-API field: scalars, lists, or multilingual ``{"fra": [...], "eng": [...]}``."""
    if is_missing(value):
        return []
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (k.casefold() not in ("fra", "fr"), k)) if prefer_french else list(value)
        out = []
        for key in keys:
            out.extend(_values(value[key], prefer_french))
        return out
    if isinstance(value, list):
        out = []
        for item in value:
            out.extend(_values(item, prefer_french))
        return out
    return [value]


def parse_ted_search_row(notice: object) -> dict:
    """Row of one notice of a TED v3 search response (fields present depend on the query's ``fields``)."""
    if not isinstance(notice, dict):
        raise NoticeRejected("enregistrement_non_objet", "avis TED qui n'est pas un objet JSON")
    number = None
    for key in ("publication-number", "ND", "notice-identifier"):
        number = number or next((ted_number(v) for v in _values(notice.get(key))), None)
    if number is None:
        raise NoticeRejected("identifiant_manquant", "avis TED sans publication-number")
    builder = RowBuilder("ted", TED_SEARCH_JSON)
    builder.put("id_avis", f"ted:{number}")
    builder.date("date_publication", *_values(notice.get("publication-date")), *_values(notice.get("PD")))
    builder.put("type_avis", next((notice_type(v) for v in _values(notice.get("notice-type"))), None))
    builder.text("acheteur_nom", *_values(notice.get("buyer-name")))
    builder.country(*_values(notice.get("buyer-country"))[:1])
    builder.text("objet", *_values(notice.get("notice-title")), *_values(notice.get("title-proc")))
    builder.cpv(*_values(notice.get("classification-cpv"))[:1])
    builder.procedure(*_values(notice.get("procedure-type")))
    builder.nature(*_values(notice.get("contract-nature")))
    deadlines = [to_date(v)[0] for v in _values(notice.get("deadline-receipt-tender-date-lot"))]
    deadlines = [d for d in deadlines if d is not None]
    builder.put("date_limite_reponse", min(deadlines) if deadlines else None)
    builder.amount(next(iter(_values(notice.get("total-value"))), None), "attribue")
    builder.amount(next(iter(_values(notice.get("estimated-value-proc"))), None), "estime")
    builder.text("id_procedure", *_values(notice.get("contract-folder-id")),
                 *_values(notice.get("procedure-identifier")))
    for code in _values(notice.get("strategic-procurement-lot")):
        if str(code).casefold() in STRATEGIC_SIGNALS:
            builder.signal(STRATEGIC_SIGNALS[str(code).casefold()])
    for code in _values(notice.get("innovative-acquisition-lot")):
        if str(code).casefold() in INNOVATIVE_ACQUISITION_SIGNALS:
            builder.signal(INNOVATIVE_ACQUISITION_SIGNALS[str(code).casefold()])
    for code in _values(notice.get("direct-award-justification")):
        if str(code).casefold() in RD_JUSTIFICATIONS:
            builder.signal("attribution_directe_rd")
    links = notice.get("links") if isinstance(notice.get("links"), dict) else {}
    html = links.get("html") if isinstance(links.get("html"), dict) else {}
    builder.text("url", html.get("FRA"), html.get("ENG"), *html.values())
    builder.put("url", ted_url(number))
    return builder.build()
