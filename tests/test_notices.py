"""Notice parsers (BOAMP, TED), format detection, streaming reader, deduplication and the avis schema.

Every notice here is small and written by hand for the case it tests; the real samples are in
test_notices_real.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import json

import pytest
from frictionless import Schema, validate

from pipelines.decp.readers import FileRejected
from pipelines.notices import (
    NOTICE_FORMATS,
    ROW_COLUMNS,
    NoticeRejected,
    procedure_label,
    split_signals,
    ted_number,
    to_date,
)
from pipelines.notices.boamp import parse_boamp_record, parse_dila_api_json, parse_dila_xml
from pipelines.notices.dedup import LINKED_KEY, deduplicate
from pipelines.notices.read import read_notices, sniff_notice
from pipelines.notices.ted import (
    eforms_from_json,
    lot_innovation_codes,
    parse_eforms,
    parse_ted_legacy,
    parse_ted_search_row,
)
from pipelines.schemas import field_names, fields, load_schema, primary_key, validate_csv

LIMIT = 10 * 1024 * 1024

AVIS_COLUMNS = [
    "id_avis", "source", "type_avis", "date_publication", "acheteur_nom", "acheteur_id", "acheteur_pays", "objet",
    "code_cpv", "procedure", "nature_marche", "date_limite_reponse", "montant", "montant_nature", "nb_lots",
    "id_procedure", "reference_ted", "famille", "avis_lies", "innovant", "innovation_score", "innovation_signaux", "url",
    "format_source", "source_fichier", "anomalies",
]


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def _rows(path):
    return [r.row for r in read_notices(path, LIMIT) if r.rejet is None]


# ---------------------------------------------------------------------------------------------- BOAMP samples

V240_DONNEES = {
    "IDENTITE": {"DENOMINATION": "Ministère des Armées - DGA", "CODE_IDENT_NATIONAL": "11009001600053",
                 "VILLE": "Paris"},
    "OBJET": {
        "TITRE_MARCHE": "Partenariat d'innovation drones de surveillance",
        "TYPE_MARCHE": {"SERVICE": ""},
        "CPV": {"PRINCIPAL": "73100000"},
        "LOTS": {"LOT": [
            {"NUM": "1", "INTITULE": "Capteurs", "VALEUR": {"@DEVISE": "EUR", "#text": "400000"}},
            {"NUM": "2", "INTITULE": "Logiciel", "VALEUR": {"@DEVISE": "EUR", "#text": "100000"}},
        ]},
    },
    "PROCEDURE": {"TYPE_PROCEDURE": {"PARTENARIAT_INNOVATION": ""}},
    "CONDITION_DELAI": {"RECEPT_OFFRES": "2022-05-02T12:00:00+02:00"},
}


def ods_record(idweb="22-51234", donnees=V240_DONNEES, **flat):
    record = {
        "idweb": idweb, "id": idweb.replace("-", "_"), "objet": "Drones de surveillance des emprises",
        "famille": "FNS", "dateparution": "2022-03-15", "datelimitereponse": "2022-05-02T10:00:00+00:00",
        "nomacheteur": "DGA", "nature": "APPEL_OFFRE", "etat": "INITIAL", "type_procedure": None,
        "procedure_libelle": "Procédure NC", "type_marche": ["SERVICES"], "source_schema": "Boamp_v240.xsd",
        "contractfolderid": None, "url_avis": f"https://www.boamp.fr/pages/avis/?q=idweb:{idweb}",
        "gestion": json.dumps({"REFERENCE": {"IDWEB": idweb}}),
        "donnees": json.dumps(donnees) if donnees is not None else None,
    }
    record.update(flat)
    return record


def eforms_json(folder="7f3c1a9e-0000-4000-8000-000000000001", notice_type="cn-standard", prefixed=True):
    """An eForms contract notice as BOAMP's 3.2.5 donnees would hold it (UBL as JSON)."""
    p = (lambda prefix, name: f"{prefix}:{name}") if prefixed else (lambda prefix, name: name)
    lot = {
        p("cbc", "ID"): {"@schemeName": "Lot", "#text": "LOT-0001"},
        p("cac", "ProcurementProject"): {
            p("cbc", "Name"): {"@languageID": "FRA", "#text": "Plateforme de jumeau numérique"},
            p("cac", "ProcurementAdditionalType"): [
                {p("cbc", "ProcurementTypeCode"): {"@listName": "strategic-procurement", "#text": "inn-pur"}},
                {p("cbc", "ProcurementTypeCode"): {"@listName": "innovative-acquisition", "#text": "mar-nov"}},
            ],
        },
    }
    notice = {
        "@xmlns": "urn:oasis:names:specification:ubl:schema:xsd:ContractNotice-2",
        p("ext", "UBLExtensions"): {p("ext", "UBLExtension"): {p("ext", "ExtensionContent"): {
            p("efext", "EformsExtension"): {
                p("efac", "Organizations"): {p("efac", "Organization"): [{p("efac", "Company"): {
                    p("cac", "PartyIdentification"): {p("cbc", "ID"): {"@schemeName": "organization",
                                                                        "#text": "ORG-0001"}},
                    p("cac", "PartyName"): {p("cbc", "Name"): {"@languageID": "FRA",
                                                                 "#text": "Université de Lille"}},
                    p("cac", "PartyLegalEntity"): {p("cbc", "CompanyID"): "13002309400018"},
                    p("cac", "PostalAddress"): {p("cac", "Country"): {
                        p("cbc", "IdentificationCode"): {"@listName": "country", "#text": "FRA"}}},
                }}]},
            }}}},
        p("cbc", "ContractFolderID"): folder,
        p("cbc", "NoticeTypeCode"): {"@listName": "competition", "#text": notice_type},
        p("cac", "ContractingParty"): {p("cac", "Party"): {p("cac", "PartyIdentification"): {
            p("cbc", "ID"): "ORG-0001"}}},
        p("cac", "TenderingProcess"): {p("cbc", "ProcedureCode"): {"@listName": "procurement-procedure-type",
                                                                     "#text": "open"}},
        p("cac", "ProcurementProject"): {
            p("cbc", "Name"): {"@languageID": "FRA", "#text": "Jumeau numérique du campus"},
            p("cbc", "ProcurementTypeCode"): {"@listName": "contract-nature", "#text": "services"},
            p("cac", "RequestedTenderTotal"): {p("cbc", "EstimatedOverallContractAmount"): {
                "@currencyID": "EUR", "#text": "250000"}},
            p("cac", "MainCommodityClassification"): {p("cbc", "ItemClassificationCode"): {
                "@listName": "cpv", "#text": "48000000"}},
        },
        p("cac", "ProcurementProjectLot"): [lot],
    }
    return {"EFORMS": {"ContractNotice": notice}}


def test_ods_record_v240_with_innovation_partnership():
    row = parse_boamp_record(ods_record())
    assert list(row) == list(ROW_COLUMNS)
    assert row["id_avis"] == "boamp:22-51234"
    assert row["source"] == "boamp" and row["format_source"] == "boamp-ods-json"
    assert row["type_avis"] == "avis_marche"
    assert row["date_publication"] == dt.date(2022, 3, 15)
    assert row["acheteur_nom"] == "DGA"  # the index field comes first
    assert row["acheteur_id"] == "11009001600053" and row["acheteur_pays"] == "FRA"
    assert row["code_cpv"] == "73100000"
    assert row["procedure"] == "Partenariat d'innovation"  # "Procédure NC" in the index says nothing
    assert row["structured_signals"] == "procedure_partenariat_innovation"
    assert row["nature_marche"] == "services"
    assert (row["montant"], row["montant_nature"], row["nb_lots"]) == (500000.0, "estime", 2)
    assert row["date_limite_reponse"] == dt.date(2022, 5, 2)  # 10:00 UTC is noon in Paris
    assert row["famille"] == "FNS" and row["anomalies"] is None


def test_ods_record_standard_procedure_has_no_signal():
    donnees = json.loads(json.dumps(V240_DONNEES))
    donnees["PROCEDURE"]["TYPE_PROCEDURE"] = {"OUVERT": ""}
    row = parse_boamp_record(ods_record(donnees=donnees, type_procedure="OUVERT"))
    assert row["procedure"] == "Procédure ouverte" and row["structured_signals"] == ""


def test_ods_record_with_eforms_donnees_reads_innovation_codes():
    record = ods_record("24-99001", donnees=eforms_json(), famille="JOUE", source_schema="3.2.5",
                        contractfolderid="7f3c1a9e-0000-4000-8000-000000000001", type_procedure="OUVERT")
    row = parse_boamp_record(record)
    assert row["id_avis"] == "boamp:24-99001" and row["famille"] == "JOUE"
    assert row["structured_signals"] == "eforms_inn_pur|eforms_mar_nov"
    assert row["acheteur_nom"] == "DGA"  # index field first
    assert row["acheteur_id"] == "13002309400018"  # SIRET only in the eForms body
    assert row["code_cpv"] == "48000000"
    assert (row["montant"], row["montant_nature"]) == (250000.0, "estime")
    assert row["id_procedure"] == "7f3c1a9e-0000-4000-8000-000000000001"
    assert row["nb_lots"] == 1 and row["procedure"] == "Procédure ouverte"


def test_eforms_json_without_prefixes_is_read_the_same():
    prefixed = eforms_from_json(eforms_json())
    bare = eforms_from_json(eforms_json(prefixed=False))
    assert lot_innovation_codes(prefixed) == lot_innovation_codes(bare) == {"LOT-0001": ["inn-pur", "mar-nov"]}
    record = ods_record("24-99002", donnees=eforms_json(prefixed=False), famille="JOUE")
    row = parse_boamp_record(record)
    assert row["structured_signals"] == "eforms_inn_pur|eforms_mar_nov"
    assert row["acheteur_id"] == "13002309400018" and row["code_cpv"] == "48000000"


def test_national_325_donnees_give_cpv_siret_and_partnership():
    donnees = {"FNSimple": {"initial": {
        "organisme": {"nomOrganisme": "Ville de Nantes", "siret": "21440109300015"},
        "procedure": {"typeProcedure": "Partenariat d'innovation"},
        "objet": {"cpv": {"principal": "72212000"}},
    }}}
    row = parse_boamp_record(ods_record("24-120001", donnees=donnees, source_schema="3.2.5"))
    assert row["code_cpv"] == "72212000" and row["acheteur_id"] == "21440109300015"
    assert row["structured_signals"] == "procedure_partenariat_innovation"
    row = parse_boamp_record(ods_record("24-120002", donnees={"MAPA": {"initial": {"cpv": "45000000-7"}}},
                                        source_schema="3.2.5"))
    assert row["code_cpv"] == "45000000" and row["structured_signals"] == ""


def test_unreadable_donnees_keeps_the_index_fields_with_an_anomaly():
    row = parse_boamp_record(ods_record(donnees=None) | {"donnees": "{pas du json"})
    assert row["id_avis"] == "boamp:22-51234" and row["objet"] == "Drones de surveillance des emprises"
    assert row["anomalies"] == "donnees_illisible" and row["code_cpv"] is None


def test_oversized_or_too_deep_donnees_reject_the_record():
    with pytest.raises(NoticeRejected) as excinfo:
        parse_boamp_record(ods_record(donnees=None) | {"donnees": '"' + "x" * (5 * 1024 * 1024) + '"'})
    assert excinfo.value.motif == "enregistrement_invalide" and excinfo.value.identifiant == "22-51234"
    deep = "[" * 100 + "]" * 100
    with pytest.raises(NoticeRejected) as excinfo:
        parse_boamp_record(ods_record(donnees=None) | {"donnees": deep})
    assert "niveaux" in excinfo.value.detail


def test_record_without_idweb_or_not_an_object_is_rejected():
    with pytest.raises(NoticeRejected) as excinfo:
        parse_boamp_record(ods_record() | {"idweb": None, "gestion": None})
    assert excinfo.value.motif == "identifiant_manquant"
    with pytest.raises(NoticeRejected) as excinfo:
        parse_boamp_record("texte")
    assert excinfo.value.motif == "enregistrement_non_objet"


def test_ted_reference_of_a_joue_notice_but_not_of_an_earlier_one():
    donnees = json.loads(json.dumps(V240_DONNEES))
    donnees["PUBLICATION_ANTERIEURE"] = {"REF_JOUE": "2023/S 250-799999"}  # the earlier notice's number
    row = parse_boamp_record(ods_record(donnees=donnees, famille="JOUE"))
    assert row["reference_ted"] is None
    donnees["PUBLICATION_JOUE"] = {"REF_JOUE": "2024/S 012-034567"}
    row = parse_boamp_record(ods_record(donnees=donnees, famille="JOUE"))
    assert row["reference_ted"] == "34567-2024"
    notice = eforms_json()
    extension = notice["EFORMS"]["ContractNotice"]["ext:UBLExtensions"]["ext:UBLExtension"]["ext:ExtensionContent"]
    extension["efext:EformsExtension"]["efac:Publication"] = {"efbc:NoticePublicationID": "00012345-2024"}
    row = parse_boamp_record(ods_record("24-99003", donnees=notice, famille="JOUE"))
    assert row["reference_ted"] == "12345-2024"


@pytest.mark.parametrize(
    "donnees",
    [{"IDENTITE": 5, "OBJET": [1, None, "x"], "PROCEDURE": "OUVERT"}, {"EFORMS": {"ContractNotice": []}},
     {"EFORMS": {"ContractNotice": {"cac:ProcurementProjectLot": [None, 3, {"cbc:ID": {"#text": None}}]}}},
     {"MAPA": [[], {"cpv": {"principal": ["x"]}}]}, ["liste"], "texte"],
    ids=["odd-types", "eforms-list", "eforms-odd-lots", "mapa-odd", "list", "string"],
)
def test_odd_donnees_never_crash(donnees):
    row = parse_boamp_record(ods_record(donnees=donnees))
    assert row["id_avis"] == "boamp:22-51234" and row["acheteur_nom"] == "DGA"


def test_explore_v20_wrapped_record_is_unwrapped():
    row = parse_boamp_record({"record": {"id": "x", "fields": ods_record()}})
    assert row["id_avis"] == "boamp:22-51234" and row["code_cpv"] == "73100000"


DILA_XML = """<?xml version="1.0" encoding="UTF-8"?>
<ANNONCE xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <GESTION>
    <REFERENCE><IDWEB>23-4567</IDWEB>
      <TYPE_AVIS><FAMILLE><JOUE/></FAMILLE><NATURE><ATTRIBUTION/></NATURE><STATUT><INITIAL/></STATUT></TYPE_AVIS>
    </REFERENCE>
    <INDEXATION><DATE_PUBLICATION>2023-02-01</DATE_PUBLICATION><RESUME_OBJET>Robot de désherbage</RESUME_OBJET>
    </INDEXATION>
  </GESTION>
  <DONNEES>
    <IDENTITE><DENOMINATION>Métropole de Lyon</DENOMINATION></IDENTITE>
    <OBJET><TYPE_MARCHE><FOURNITURES/></TYPE_MARCHE><CPV><PRINCIPAL>16000000</PRINCIPAL></CPV></OBJET>
    <PROCEDURE><TYPE_PROCEDURE><PARTENARIAT_INNOVATION/></TYPE_PROCEDURE></PROCEDURE>
    <ATTRIBUTION>
      <DECISION><NUM_LOT>1</NUM_LOT><TITULAIRE><DENOMINATION>A</DENOMINATION></TITULAIRE>
        <RENSEIGNEMENT><MONTANT DEVISE="EUR">120000</MONTANT></RENSEIGNEMENT></DECISION>
      <DECISION><NUM_LOT>2</NUM_LOT><TITULAIRE><DENOMINATION>B</DENOMINATION></TITULAIRE>
        <RENSEIGNEMENT><MONTANT DEVISE="EUR">30000.5</MONTANT></RENSEIGNEMENT></DECISION>
    </ATTRIBUTION>
  </DONNEES>
</ANNONCE>
"""


def test_dila_xml_award_with_innovation_partnership():
    row = parse_dila_xml(DILA_XML.encode())
    assert row["id_avis"] == "boamp:23-4567" and row["format_source"] == "boamp-dila-xml"
    assert (row["type_avis"], row["famille"], row["date_publication"]) == ("avis_attribution", "JOUE",
                                                                           dt.date(2023, 2, 1))
    assert (row["acheteur_nom"], row["objet"], row["code_cpv"]) == ("Métropole de Lyon", "Robot de désherbage",
                                                                    "16000000")
    assert row["nature_marche"] == "fournitures"
    assert (row["montant"], row["montant_nature"]) == (150000.5, "attribue")
    assert row["structured_signals"] == "procedure_partenariat_innovation"
    assert row["url"] == "https://www.boamp.fr/pages/avis/?q=idweb:23-4567"


def test_dila_xml_file_with_dtd_is_refused(tmp_path):
    bomb = DILA_XML.replace('<?xml version="1.0" encoding="UTF-8"?>',
                            '<?xml version="1.0"?>\n<!DOCTYPE ANNONCE [<!ENTITY x "xxxxxxxx">]>')
    path = _write(tmp_path, "avis.xml", bomb)
    assert sniff_notice(path.read_bytes()) == "boamp-dila-xml"
    with pytest.raises(FileRejected) as excinfo:
        list(read_notices(path, LIMIT))
    assert excinfo.value.motif == "xml_invalide" and "DTD" in excinfo.value.detail
    with pytest.raises(NoticeRejected):
        parse_dila_xml(bomb.encode())


def test_dila_api_json_with_partnership_flag():
    document = {
        "gestion": {"reference": {"idweb": "21-777", "typeavis": {
            "famille": {"mapa": None, "fns": "<FNS/>", "joue": None},
            "nature": {"appeloffre": {"standard": None}, "attribution": None},
            "statut": {"initial": "<INITIAL/>", "rectificatif": None}}},
            "indexation": {"datepublication": 1633039200000, "resumeobjet": "Solution d'IA pour l'accueil"}},
        "donnees": {
            "identite": {"denomination": "CHU de Nantes", "codeidentnational": "26440013600010"},
            "objet": [{"typemarche": {"travaux": None, "fournitures": None, "service": ""},
                       "cpv": [{"principal": "72000000"}]}],
            "procedure": {"typeprocedure": {"ouvert": None, "partenariatinnovation": "<PARTENARIAT_INNOVATION/>"}},
            "conditiondelai": {"receptoffres": 1636542000000},
        },
    }
    row = parse_dila_api_json(document)
    assert row["id_avis"] == "boamp:21-777" and row["format_source"] == "boamp-dila-api-json"
    assert row["date_publication"] == dt.date(2021, 10, 1)  # 2021-09-30T22:00Z is 1 October in Paris
    assert (row["type_avis"], row["famille"]) == ("avis_marche", "FNS")
    assert (row["acheteur_id"], row["code_cpv"], row["nature_marche"]) == ("26440013600010", "72000000", "services")
    assert row["procedure"] == "Partenariat d'innovation"
    assert row["structured_signals"] == "procedure_partenariat_innovation"
    assert row["date_limite_reponse"] == dt.date(2021, 11, 10)


# ---------------------------------------------------------------------------------------------- TED samples

UBL_NS = (
    'xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" '
    'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2" '
    'xmlns:efac="http://data.europa.eu/p27/eforms-ubl-extension-aggregate-components/1" '
    'xmlns:efbc="http://data.europa.eu/p27/eforms-ubl-extension-basic-components/1" '
    'xmlns:efext="http://data.europa.eu/p27/eforms-ubl-extensions/1" '
    'xmlns:ext="urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"'
)


def eforms_can(number="00123456-2024", lot_codes=(("mar-nov", "rd-act"), ("buy-eff",)), reason="rd"):
    lots = ""
    for i, codes in enumerate(lot_codes, start=1):
        additional = "".join(
            f'<cac:ProcurementAdditionalType><cbc:ProcurementTypeCode listName="innovative-acquisition">{c}'
            f'</cbc:ProcurementTypeCode></cac:ProcurementAdditionalType>' for c in codes)
        lots += (f'<cac:ProcurementProjectLot><cbc:ID schemeName="Lot">LOT-000{i}</cbc:ID>'
                 f'<cac:ProcurementProject><cbc:Name languageID="FRA">Lot {i}</cbc:Name>'
                 f'<cbc:ProcurementTypeCode listName="contract-nature">supplies</cbc:ProcurementTypeCode>'
                 f'<cac:MainCommodityClassification><cbc:ItemClassificationCode listName="cpv">3812000{i}'
                 f'</cbc:ItemClassificationCode></cac:MainCommodityClassification>{additional}'
                 f'</cac:ProcurementProject></cac:ProcurementProjectLot>')
    publication = (f'<efac:Publication><efbc:NoticePublicationID schemeName="ojs-notice-id">{number}'
                   f'</efbc:NoticePublicationID><efbc:PublicationDate>2024-05-06Z</efbc:PublicationDate>'
                   f'</efac:Publication>') if number else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ContractAwardNotice xmlns="urn:oasis:names:specification:ubl:schema:xsd:ContractAwardNotice-2" {UBL_NS}>
 <ext:UBLExtensions><ext:UBLExtension><ext:ExtensionContent><efext:EformsExtension>
  <efac:NoticeResult><cbc:TotalAmount currencyID="EUR">98000.50</cbc:TotalAmount></efac:NoticeResult>
  <efac:NoticeSubType><cbc:SubTypeCode listName="notice-subtype">29</cbc:SubTypeCode></efac:NoticeSubType>
  <efac:Organizations><efac:Organization><efac:Company>
   <cac:PartyIdentification><cbc:ID schemeName="organization">ORG-0007</cbc:ID></cac:PartyIdentification>
   <cac:PartyName><cbc:Name languageID="ENG">Lille University</cbc:Name></cac:PartyName>
   <cac:PartyName><cbc:Name languageID="FRA">Université de Lille</cbc:Name></cac:PartyName>
   <cac:PostalAddress><cac:Country><cbc:IdentificationCode listName="country">FRA</cbc:IdentificationCode>
   </cac:Country></cac:PostalAddress>
   <cac:PartyLegalEntity><cbc:CompanyID>13002309400018</cbc:CompanyID></cac:PartyLegalEntity>
  </efac:Company></efac:Organization>
  <efac:Organization><efac:Company>
   <cac:PartyIdentification><cbc:ID schemeName="organization">ORG-0008</cbc:ID></cac:PartyIdentification>
   <cac:PartyName><cbc:Name languageID="FRA">Titulaire SAS</cbc:Name></cac:PartyName>
  </efac:Company></efac:Organization></efac:Organizations>
  {publication}
 </efext:EformsExtension></ext:ExtensionContent></ext:UBLExtension></ext:UBLExtensions>
 <cbc:ContractFolderID>c0ffee00-1111-4222-8333-444455556666</cbc:ContractFolderID>
 <cbc:NoticeTypeCode listName="result">can-standard</cbc:NoticeTypeCode>
 <cac:ContractingParty><cac:Party><cac:PartyIdentification><cbc:ID>ORG-0007</cbc:ID></cac:PartyIdentification>
 </cac:Party></cac:ContractingParty>
 <cac:TenderingProcess><cbc:ProcedureCode listName="procurement-procedure-type">neg-wo-call</cbc:ProcedureCode>
  <cac:ProcessJustification><cbc:ProcessReasonCode listName="direct-award-justification">{reason}
  </cbc:ProcessReasonCode></cac:ProcessJustification></cac:TenderingProcess>
 {lots}
</ContractAwardNotice>
"""


def test_eforms_award_with_bt776_codes_per_lot(tmp_path):
    path = _write(tmp_path, "can.xml", eforms_can())
    assert sniff_notice(path.read_bytes()) == "ted-eforms-xml"
    [record] = list(read_notices(path, LIMIT))
    row = record.row
    assert row["id_avis"] == "ted:123456-2024" and row["source"] == "ted" and row["source_fichier"] == "can.xml"
    assert (row["type_avis"], row["date_publication"]) == ("avis_attribution", dt.date(2024, 5, 6))
    assert (row["acheteur_nom"], row["acheteur_id"], row["acheteur_pays"]) == (
        "Université de Lille", "13002309400018", "FRA")  # the buyer, not the winner; French name preferred
    assert row["code_cpv"] == "38120001"  # no CPV at procedure level: first lot's
    assert (row["montant"], row["montant_nature"], row["nb_lots"]) == (98000.5, "attribue", 2)
    assert row["nature_marche"] == "fournitures"
    assert row["procedure"] == "Procédure négociée sans publicité préalable"
    assert split_signals(row["structured_signals"]) == {
        "eforms_mar_nov", "eforms_rd_act", "eforms_innov_ancien", "attribution_directe_rd"}
    assert row["structured_signals"] == "eforms_mar_nov|eforms_rd_act|eforms_innov_ancien|attribution_directe_rd"
    from pipelines.notices import parse_xml
    assert lot_innovation_codes(parse_xml(eforms_can().encode())) == {
        "LOT-0001": ["mar-nov", "rd-act"], "LOT-0002": ["buy-eff"]}


def test_eforms_without_innovation_codes_has_no_signal():
    from pipelines.notices import parse_xml
    row = parse_eforms(parse_xml(eforms_can(lot_codes=((), ()), reason="urgency").encode()))
    assert row["structured_signals"] == ""


def test_unpublished_eforms_notice_is_rejected_in_the_file(tmp_path):
    path = _write(tmp_path, "draft.xml", eforms_can(number=None))
    [record] = list(read_notices(path, LIMIT))
    assert record.row == {} and record.rejet.motif == "identifiant_manquant"


LEGACY_TED = """<?xml version="1.0" encoding="UTF-8"?>
<TED_EXPORT xmlns="http://publications.europa.eu/resource/schema/ted/R2.0.9/publication"
    VERSION="R2.0.9.S03.E01" DOC_ID="012345-2019" EDITION="2019010">
  <CODED_DATA_SECTION>
    <REF_OJS><COLL_OJ>S</COLL_OJ><NO_OJ>10</NO_OJ><DATE_PUB>20190115</DATE_PUB></REF_OJS>
    <NOTICE_DATA><NO_DOC_OJS>2019/S 010-012345</NO_DOC_OJS><ISO_COUNTRY VALUE="FR"/>
      <URI_LIST><URI_DOC LG="EN">https://ted.europa.eu/udl?uri=TED:NOTICE:12345-2019:TEXT:EN:HTML</URI_DOC>
      <URI_DOC LG="FR">https://ted.europa.eu/udl?uri=TED:NOTICE:12345-2019:TEXT:FR:HTML</URI_DOC></URI_LIST>
    </NOTICE_DATA>
    <CODIF_DATA><TD_DOCUMENT_TYPE CODE="3">Contract notice</TD_DOCUMENT_TYPE></CODIF_DATA>
  </CODED_DATA_SECTION>
  <FORM_SECTION>
    <F02_2014 LG="EN" CATEGORY="TRANSLATION"><CONTRACTING_BODY><ADDRESS_CONTRACTING_BODY>
      <OFFICIALNAME>Translated name</OFFICIALNAME></ADDRESS_CONTRACTING_BODY></CONTRACTING_BODY></F02_2014>
    <F02_2014 LG="FR" CATEGORY="ORIGINAL">
      <CONTRACTING_BODY><ADDRESS_CONTRACTING_BODY>
        <OFFICIALNAME>Assistance publique - Hôpitaux de Paris</OFFICIALNAME>
        <NATIONALID>26750045200011</NATIONALID><COUNTRY VALUE="FR"/>
      </ADDRESS_CONTRACTING_BODY></CONTRACTING_BODY>
      <OBJECT_CONTRACT>
        <TITLE><P>Partenariat d'innovation pour un dispositif de télésurveillance</P></TITLE>
        <CPV_MAIN><CPV_CODE CODE="33100000"/></CPV_MAIN>
        <TYPE_CONTRACT CTYPE="SUPPLIES"/>
        <VAL_ESTIMATED_TOTAL CURRENCY="EUR">2500000</VAL_ESTIMATED_TOTAL>
        <LOT_DIVISION><LOT_ALL/></LOT_DIVISION>
        <OBJECT_DESCR ITEM="1"><LOT_NO>1</LOT_NO></OBJECT_DESCR>
        <OBJECT_DESCR ITEM="2"><LOT_NO>2</LOT_NO></OBJECT_DESCR>
      </OBJECT_CONTRACT>
      <PROCEDURE><PT_INNOVATION_PARTNERSHIP/><DATE_RECEIPT_TENDERS>2019-02-20</DATE_RECEIPT_TENDERS></PROCEDURE>
    </F02_2014>
  </FORM_SECTION>
</TED_EXPORT>
"""


def test_legacy_ted_innovation_partnership(tmp_path):
    path = _write(tmp_path, "ted.xml", LEGACY_TED)
    assert sniff_notice(path.read_bytes()) == "ted-xml"
    [row] = _rows(path)
    assert row["id_avis"] == "ted:12345-2019" and row["format_source"] == "ted-xml"
    assert (row["type_avis"], row["date_publication"]) == ("avis_marche", dt.date(2019, 1, 15))
    assert (row["acheteur_nom"], row["acheteur_id"], row["acheteur_pays"]) == (
        "Assistance publique - Hôpitaux de Paris", "26750045200011", "FRA")  # the original form, not the EN one
    assert row["objet"] == "Partenariat d'innovation pour un dispositif de télésurveillance"
    assert (row["code_cpv"], row["nature_marche"], row["nb_lots"]) == ("33100000", "fournitures", 2)
    assert (row["montant"], row["montant_nature"]) == (2500000.0, "estime")
    assert row["procedure"] == "Partenariat d'innovation"
    assert row["structured_signals"] == "procedure_partenariat_innovation"
    assert row["date_limite_reponse"] == dt.date(2019, 2, 20)
    assert row["url"].endswith(":FR:HTML")


def test_legacy_ted_award_without_call_for_research():
    from pipelines.notices import parse_xml
    award = LEGACY_TED.replace("F02_2014", "F03_2014").replace(
        "<PT_INNOVATION_PARTNERSHIP/>",
        "<PT_AWARD_CONTRACT_WITHOUT_CALL><D_ACCORDANCE_ARTICLE><D_PURE_RESEARCH/></D_ACCORDANCE_ARTICLE>"
        "</PT_AWARD_CONTRACT_WITHOUT_CALL>").replace(
        '<VAL_ESTIMATED_TOTAL CURRENCY="EUR">2500000</VAL_ESTIMATED_TOTAL>',
        '<VAL_TOTAL CURRENCY="EUR">180000</VAL_TOTAL>')
    row = parse_ted_legacy(parse_xml(award.encode()))
    assert row["type_avis"] == "avis_attribution"
    assert row["structured_signals"] == "attribution_directe_rd"
    assert (row["montant"], row["montant_nature"]) == (180000.0, "attribue")
    assert row["procedure"] == "Procédure négociée sans publicité préalable"


def test_ted_search_row_with_eforms_fields():
    row = parse_ted_search_row({
        "publication-number": "00598765-2024", "publication-date": "2024-10-14+02:00",
        "notice-type": "cn-standard", "buyer-name": {"eng": ["City of Lyon"], "fra": ["Ville de Lyon"]},
        "buyer-country": ["FRA"], "notice-title": {"fra": "Partenariat d'innovation mobilité"},
        "classification-cpv": ["34144900", "34000000"], "procedure-type": "innovation",
        "contract-nature": ["services"], "innovative-acquisition-lot": ["prod-innov"],
        "links": {"html": {"ENG": "https://ted.europa.eu/en/notice/-/detail/598765-2024",
                           "FRA": "https://ted.europa.eu/fr/notice/-/detail/598765-2024"}},
    })
    assert row["id_avis"] == "ted:598765-2024" and row["date_publication"] == dt.date(2024, 10, 14)
    assert (row["type_avis"], row["acheteur_nom"], row["acheteur_pays"]) == ("avis_marche", "Ville de Lyon", "FRA")
    assert (row["code_cpv"], row["procedure"], row["nature_marche"]) == ("34144900", "Partenariat d'innovation",
                                                                          "services")
    assert row["structured_signals"] == "procedure_partenariat_innovation|eforms_prod_innov"
    assert row["url"] == "https://ted.europa.eu/fr/notice/-/detail/598765-2024"


# ---------------------------------------------------------------------------------------------- files

def test_ods_page_with_malformed_records_keeps_the_good_ones(tmp_path):
    page = {"total_count": 5, "results": [
        ods_record("22-1"), "pas un objet", ods_record("22-2") | {"idweb": None, "gestion": None},
        ods_record("22-3"), ods_record("22-4") | {"donnees": "[" * 200 + "]" * 200},
    ]}
    path = _write(tmp_path, "page.json", json.dumps(page))
    assert sniff_notice(path.read_bytes()) == "boamp-ods-json"
    records = list(read_notices(path, LIMIT))
    assert [r.position for r in records] == [0, 1, 2, 3, 4]
    assert [r.row.get("id_avis") for r in records] == ["boamp:22-1", None, None, "boamp:22-3", None]
    assert [r.rejet.motif if r.rejet else None for r in records] == [
        None, "enregistrement_non_objet", "identifiant_manquant", None, "enregistrement_invalide"]
    assert records[4].rejet.identifiant == "22-4"
    assert all(r.format_source == "boamp-ods-json" for r in records)
    assert records[0].row["source_fichier"] == "page.json"


def test_ods_exports_json_array(tmp_path):
    path = _write(tmp_path, "export.json", json.dumps([ods_record("22-10"), ods_record("22-11")]))
    assert [r["id_avis"] for r in _rows(path)] == ["boamp:22-10", "boamp:22-11"]


def test_ods_jsonl_export(tmp_path):
    lines = [json.dumps(ods_record("22-20")), "", "{tronqué", json.dumps(ods_record("22-21", donnees=eforms_json()))]
    path = _write(tmp_path, "export.jsonl", "\n".join(lines) + "\n")
    assert sniff_notice(path.read_bytes()) == "boamp-ods-jsonl"
    records = list(read_notices(path, LIMIT))
    assert [(r.position, r.row.get("id_avis")) for r in records] == [
        (0, "boamp:22-20"), (1, None), (2, "boamp:22-21")]
    assert records[1].rejet.motif == "enregistrement_invalide" and "JSON" in records[1].rejet.detail
    assert {r.format_source for r in records} == {"boamp-ods-jsonl"}
    assert records[0].row["format_source"] == "boamp-ods-jsonl"
    assert records[2].row["structured_signals"] == "eforms_inn_pur|eforms_mar_nov"


def test_ted_search_response_file(tmp_path):
    response = {"notices": [{"publication-number": "1-2024", "PD": "2024-01-02T23:00:00Z"},
                            {"ND": "2-2024"}, {"links": {}}],
                "totalNoticeCount": 3, "iterationNextToken": None, "timedOut": False}
    path = _write(tmp_path, "ted.json", json.dumps(response))
    assert sniff_notice(path.read_bytes()) == "ted-search-json"
    records = list(read_notices(path, LIMIT))
    assert [r.row.get("id_avis") for r in records] == ["ted:1-2024", "ted:2-2024", None]
    assert records[0].row["date_publication"] == dt.date(2024, 1, 3)
    assert records[2].rejet.motif == "identifiant_manquant"


def test_truncated_page_keeps_complete_records_then_rejects(tmp_path):
    text = json.dumps({"total_count": 2, "results": [ods_record("22-30"), ods_record("22-31")]})
    path = _write(tmp_path, "page.json", text[: text.index('"22-31"') + 20])
    seen = []
    with pytest.raises(FileRejected) as excinfo:
        for record in read_notices(path, LIMIT):
            seen.append(record.row["id_avis"])
    assert seen == ["boamp:22-30"] and excinfo.value.motif == "json_invalide"


@pytest.mark.parametrize(
    ("content", "motif"),
    [
        (b"", "format_non_reconnu"),
        (b'{"marches": [{"id": "A"}]}', "format_non_reconnu"),  # DECP, not a notice
        (b'<?xml version="1.0"?><marches><marche><id>1</id></marche></marches>', "format_non_reconnu"),
        (b"\x00\x01binaire", "format_non_reconnu"),
    ],
    ids=["empty", "decp-json", "decp-xml", "binary"],
)
def test_files_that_are_not_notices_are_rejected(tmp_path, content, motif):
    path = _write(tmp_path, "x.bin", content)
    assert sniff_notice(content) is None
    with pytest.raises(FileRejected) as excinfo:
        list(read_notices(path, LIMIT))
    assert excinfo.value.motif == motif


def test_size_limit_and_missing_file(tmp_path):
    path = _write(tmp_path, "page.json", json.dumps({"total_count": 1, "results": [ods_record()]}))
    with pytest.raises(FileRejected) as excinfo:
        list(read_notices(path, 100))
    assert excinfo.value.motif == "fichier_trop_volumineux"
    with pytest.raises(FileRejected) as excinfo:
        list(read_notices(tmp_path / "absent.json", LIMIT))
    assert excinfo.value.motif == "fichier_illisible"


def test_eforms_file_with_entity_is_refused(tmp_path):
    xxe = eforms_can().replace('<?xml version="1.0" encoding="UTF-8"?>',
                               '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>')
    path = _write(tmp_path, "xxe.xml", xxe)
    assert sniff_notice(path.read_bytes()) == "ted-eforms-xml"
    with pytest.raises(FileRejected) as excinfo:
        list(read_notices(path, LIMIT))
    assert excinfo.value.motif == "xml_invalide"


def test_dila_xml_wrapper_with_several_notices_and_a_bad_one(tmp_path):
    one = DILA_XML.split("?>", 1)[1]
    nameless = one.replace("<IDWEB>23-4567</IDWEB>", "")
    path = _write(tmp_path, "lot.xml", f"<?xml version='1.0'?><PARUTION>{one}{nameless}"
                                       f"{one.replace('23-4567', '23-4568')}</PARUTION>")
    records = list(read_notices(path, LIMIT))
    assert [r.row.get("id_avis") for r in records] == ["boamp:23-4567", None, "boamp:23-4568"]
    assert records[1].rejet.motif == "identifiant_manquant"


def test_sniff_recognises_every_format():
    assert sniff_notice(b'{"total_count": 1, "results": [{"idweb": "1"}]}') == "boamp-ods-json"
    assert sniff_notice(b'{"idweb": "1", "donnees": "{}"}\n{"idweb": "2"}') == "boamp-ods-jsonl"
    assert sniff_notice(b'{"gestion": {"reference": {"idweb": "1"}}, "donnees": {}}') == "boamp-dila-api-json"
    assert sniff_notice(b"\xef\xbb\xbf<?xml version='1.0'?>\n<!-- x --><ANNONCE/>") == "boamp-dila-xml"
    assert sniff_notice(b'<TED_EXPORT xmlns="http://publications.europa.eu/resource/schema/ted/R2.0.9/'
                        b'publication"/>') == "ted-xml"
    assert sniff_notice(b'<PriorInformationNotice xmlns="urn:x"/>') == "ted-eforms-xml"
    assert sniff_notice(b'{"notices": [], "totalNoticeCount": 0}') == "ted-search-json"
    assert set(NOTICE_FORMATS) == {f for f in load_schema("avis")["fields"][-3]["constraints"]["enum"]}


# ---------------------------------------------------------------------------------------------- values


def test_dates_numbers_and_labels():
    assert to_date("2024-01-24Z") == (dt.date(2024, 1, 24), None)
    assert to_date("2024-02-28+02:00") == (dt.date(2024, 2, 28), None)
    assert to_date("2022-02-06T23:00:00Z") == (dt.date(2022, 2, 7), None)
    assert to_date("20190115") == (dt.date(2019, 1, 15), None)
    assert to_date(1607900400000) == (dt.date(2020, 12, 14), None)
    assert to_date("2006-07-4") == (dt.date(2006, 7, 4), None)
    assert to_date("21 juillet 2006") == (None, "date_invalide")
    assert ted_number("00553508-2023") == "553508-2023"
    assert ted_number("2019/S 010-012345") == "12345-2019"
    assert ted_number("pas un numéro") is None
    assert procedure_label("PT_INNOVATION_PARTNERSHIP") == ("Partenariat d'innovation", True)
    assert procedure_label("Procédure de partenariat d’innovation") == ("Partenariat d'innovation", True)
    assert procedure_label("Procédure NC") == (None, False)
    assert procedure_label("Procédure spéciale maison") == ("Procédure spéciale maison", False)


# ---------------------------------------------------------------------------------------------- dedup


def _row(id_avis, **values):
    row = dict.fromkeys(ROW_COLUMNS)
    row.update(id_avis=id_avis, source=id_avis.split(":")[0], type_avis="avis_marche", structured_signals="",
               format_source="boamp-ods-json" if id_avis.startswith("boamp") else "ted-eforms-xml")
    row.update(values)
    return row


def test_dedup_boamp_joue_copy_of_a_ted_notice_by_contract_folder():
    folder = "7f3c1a9e-0000-4000-8000-000000000001"
    boamp = _row("boamp:24-1", famille="JOUE", id_procedure=folder.upper(), date_publication=dt.date(2024, 3, 1),
                 acheteur_id="13002309400018", structured_signals="procedure_partenariat_innovation",
                 montant=100.0, montant_nature="estime")
    ted = _row("ted:5-2024", id_procedure=folder, date_publication=dt.date(2024, 3, 4), acheteur_nom="Univ",
               structured_signals="eforms_inn_pur")
    other = _row("boamp:24-2", famille="MAPA")
    kept, pairs = deduplicate([boamp, ted, other])
    assert [r["id_avis"] for r in kept] == ["ted:5-2024", "boamp:24-2"]
    assert pairs == [("boamp:24-1", "ted:5-2024")]
    merged = kept[0]
    assert merged["famille"] == "JOUE" and merged["acheteur_id"] == "13002309400018"
    assert (merged["montant"], merged["montant_nature"]) == (100.0, "estime")
    assert merged["structured_signals"] == "procedure_partenariat_innovation|eforms_inn_pur"
    assert merged[LINKED_KEY] == "boamp:24-1"
    assert merged["format_source"] == "ted-eforms-xml" and merged["acheteur_nom"] == "Univ"


def test_dedup_by_ted_reference_and_not_across_notice_types_or_families():
    folder = "abc"
    by_ref = _row("boamp:24-3", famille="JOUE", reference_ted="77-2024", type_avis="avis_attribution")
    award = _row("ted:77-2024", id_procedure=folder, type_avis="avis_attribution")
    notice = _row("boamp:24-4", famille="JOUE", id_procedure=folder, type_avis="avis_marche")  # a CN, not the CAN
    national = _row("boamp:24-5", famille="FNS", id_procedure=folder, type_avis="avis_attribution")
    late = _row("boamp:24-6", famille="JOUE", id_procedure=folder, type_avis="avis_attribution",
                date_publication=dt.date(2024, 9, 1))
    award["date_publication"] = dt.date(2024, 3, 1)
    kept, pairs = deduplicate([by_ref, award, notice, national, late])
    assert pairs == [("boamp:24-3", "ted:77-2024")]
    assert [r["id_avis"] for r in kept] == ["ted:77-2024", "boamp:24-4", "boamp:24-5", "boamp:24-6"]


def test_dedup_same_id_keeps_the_most_complete_then_the_latest():
    first = _row("boamp:24-7", objet="Objet", code_cpv="72000000")
    second = _row("boamp:24-7", objet="Objet", acheteur_nom="Ville")
    third = _row("boamp:24-7", objet="Objet révisé", acheteur_nom="Ville")
    kept, pairs = deduplicate([first, second, _row("ted:1-2024"), third])
    assert [r["id_avis"] for r in kept] == ["boamp:24-7", "ted:1-2024"]
    assert kept[0]["objet"] == "Objet révisé"  # tie on completeness: the later one
    assert kept[0]["code_cpv"] == "72000000"  # gap filled from the other copies
    assert pairs == [("boamp:24-7", "boamp:24-7"), ("boamp:24-7", "boamp:24-7")]


# ---------------------------------------------------------------------------------------------- schema


def _cell(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def test_avis_schema_is_a_valid_table_schema_in_the_contract_order():
    descriptor = load_schema("avis")
    report = validate(descriptor, type="schema")
    assert report.valid, report.flatten(["type", "note"])
    assert Schema.from_descriptor(descriptor).field_names == AVIS_COLUMNS == field_names("avis")
    assert primary_key("avis") == ["id_avis"]
    assert descriptor["version"] == "0.1.0" and [lic["name"] for lic in descriptor["licenses"]] == ["etalab-2.0"]
    assert descriptor["$schema"] == "https://datapackage.org/profiles/1.0/tableschema.json"
    assert descriptor["missingValues"] == [""]
    # avis_lies is filled by deduplication, the three decision columns by the classifier.
    assert [c for c in AVIS_COLUMNS if c not in ("avis_lies", "innovant", "innovation_score", "innovation_signaux")] == [
        c for c in ROW_COLUMNS if c != "structured_signals"]


def test_avis_fields_are_documented_and_constrained():
    by_name = {f["name"]: f for f in fields("avis")}
    for name, field in by_name.items():
        assert field.get("title") and len(field.get("description", "")) >= 15, name
        assert isinstance(field.get("example"), str) and field["example"], name
        assert "required" in field["constraints"], name
    assert by_name["id_avis"]["constraints"] == {"required": True, "unique": True, "pattern": "^(boamp|ted):.+$"}
    assert by_name["source"]["constraints"]["enum"] == ["boamp", "ted"]
    assert by_name["type_avis"]["constraints"]["enum"] == [
        "avis_marche", "avis_preinformation", "avis_attribution", "rectificatif", "annulation", "modification",
        "autre"]
    assert by_name["montant_nature"]["constraints"]["enum"] == ["estime", "attribue"]
    assert by_name["nature_marche"]["constraints"]["enum"] == ["travaux", "fournitures", "services"]
    assert by_name["innovant"]["trueValues"] == ["true"] and by_name["innovant"]["constraints"]["required"]
    assert by_name["innovation_score"]["constraints"] == {"required": True, "minimum": 0, "maximum": 1}
    assert by_name["format_source"]["constraints"]["enum"] == list(NOTICE_FORMATS)
    assert by_name["source_fichier"]["constraints"]["required"] is True


def test_avis_examples_pass_their_own_constraints(tmp_path):
    path = tmp_path / "avis.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(field_names("avis"))
        writer.writerow([_cell(f["example"]) for f in fields("avis")])
    report = validate_csv(path, "avis")
    assert report.valid, report.errors


@pytest.mark.parametrize(
    ("column", "value"),
    [("id_avis", "24-12345"), ("source", "place"), ("code_cpv", "45000000-7"), ("acheteur_pays", "FR"),
     ("montant", "-1"), ("montant_nature", "estimé"), ("nb_lots", "1.5"), ("innovant", "True"),
     ("reference_ted", "2024/S 001-000001"), ("format_source", "decp-2024-json"), ("source_fichier", "")],
)
def test_avis_constraints_catch_bad_values(tmp_path, column, value):
    row = {f["name"]: _cell(f["example"]) for f in fields("avis")}
    row[column] = value
    path = tmp_path / "avis.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(field_names("avis"))
        writer.writerow([row[name] for name in field_names("avis")])
    report = validate_csv(path, "avis")
    assert not report.valid and any(f"champ {column}" in line for line in report.errors), report.errors


def test_dedup_never_merges_into_a_look_alike_or_two_copies_into_one():
    award = _row("ted:100-2024", id_procedure="PROC-1", type_avis="avis_attribution",
                 date_publication=dt.date(2024, 3, 1))
    names_other = _row("boamp:24-1", famille="JOUE", id_procedure="PROC-1", type_avis="avis_attribution",
                       reference_ted="200-2024", date_publication=dt.date(2024, 3, 1))
    lot_1 = _row("boamp:24-2", famille="JOUE", id_procedure="PROC-1", type_avis="avis_attribution",
                 date_publication=dt.date(2024, 3, 2))
    lot_2 = _row("boamp:24-3", famille="JOUE", id_procedure="PROC-1", type_avis="avis_attribution",
                 date_publication=dt.date(2024, 3, 5))
    kept, pairs = deduplicate([award, names_other, lot_1, lot_2])
    assert pairs == [("boamp:24-2", "ted:100-2024")]  # the closest copy only
    assert [r["id_avis"] for r in kept] == ["ted:100-2024", "boamp:24-1", "boamp:24-3"]


def test_an_empty_boamp_page_is_a_boamp_page(tmp_path):
    from pipelines.notices.read import read_notices, sniff_notice

    path = tmp_path / "records-0000000000.json"
    path.write_text('{"total_count": 0, "results": []}', encoding="utf-8")
    assert sniff_notice(path.read_bytes()) == "boamp-ods-json"
    assert list(read_notices(path, 10**6)) == []
