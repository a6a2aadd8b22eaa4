"""Notice parsers on the real samples of ../shared/data/real/notices (read in place, never copied).

Expected values were read in the files themselves (README.md of the folder lists them). The DILA XML dates are
those of GESTION/INDEXATION/DATE_PUBLICATION, the notice's own publication; the README's table sometimes
gives the date of the earlier notice an award refers to.
"""

from __future__ import annotations

import csv
import datetime as dt
import json

import pandas as pd
import pytest
from lxml import etree

from pipelines.classify.rules import classify
from pipelines.notices import ROW_COLUMNS, parse_xml
from pipelines.notices.dedup import LINKED_KEY, deduplicate
from pipelines.notices.read import read_notices, sniff_notice
from pipelines.notices.ted import NS, lot_innovation_codes
from pipelines.schemas import field_names, validate_csv

LIMIT = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def notices(real_data):
    path = real_data / "notices"
    if not path.is_dir():
        pytest.skip(f"no real notices at {path}")
    return path


def _read(path):
    records = list(read_notices(path, LIMIT))
    assert all(r.rejet is None for r in records), [r.rejet for r in records if r.rejet]
    return [r.row for r in records]


DILA_XML = {
    # file: (idweb, date, buyer, CPV, famille, type_avis)
    "test-pub.xml": ("16-186394", "2017-01-01", "Ville de Paris", "50118110", "JOUE", "avis_marche"),
    "test-pub-2.xml": ("16-181902", "2017-01-01", "Grand Port Maritime de Marseille", "71240000", "JOUE",
                       "avis_marche"),
    "test-pub-3.xml": ("16-186063", "2017-01-01", "SEMMY", "45211000", "JOUE", "avis_marche"),
    "test-pub-4.xml": ("16-186173", "2017-01-01", "COMMUNE DE LES ANDELYS", "65110000", "JOUE", "avis_marche"),
    "test-pub-5.xml": ("16-186359", "2017-01-01", "MTSFP", "79952000", "JOUE", "avis_marche"),
    "test-pub-7.xml": ("17-22464", "2017-02-15", "Cté de Cnes Pyrénées Audoises", "09000000", "DSP", "avis_marche"),
    "test-attribution-2.xml": ("16-138580", "2017-02-14", "Communauté d'Agglomération de Saintes", None, "MAPA",
                               "avis_attribution"),
    "test-attribution-3.xml": ("16-178891", "2017-01-05", "Université paris Sud", None, "MAPA", "avis_attribution"),
    "test-attribution-4.xml": ("16-183123", "2017-01-19", "Ville de Troyes", None, "MAPA", "avis_attribution"),
    "test-attribution-5.xml": ("17-1028", "2017-01-04", "Bordeaux Métropole", None, "MAPA", "avis_attribution"),
    "test-attribution-6.xml": ("17-1515", "2017-01-04", "Communauté d'agglomérat. du gapençais", "24542000", "FNS",
                               "avis_attribution"),
    "test-attribution-7.xml": ("17-29167", "2017-03-01", "Ville de Suresnes", "79620000", "FNS",
                               "avis_attribution"),
    "test-attribution-8.xml": ("17-4742", "2017-01-11", "CHU St Etienne", "79625000", "FNS", "avis_attribution"),
    "test-attribution-9.xml": ("17-5219", "2017-01-12", "DEPARTEMENT DES HAUTES-ALPES", "45314320", "FNS",
                               "avis_attribution"),
    "test-attribution-10.xml": ("16-185754", "2017-01-13", "ville de Fécamp", "45212100", "FNS",
                                "avis_attribution"),
}


@pytest.mark.parametrize("name", sorted(DILA_XML))
def test_dila_xml_v230_notices(notices, name):
    path = notices / "boamp" / "dila_xml_v230" / name
    assert sniff_notice(path.read_bytes()[:65536]) == "boamp-dila-xml"
    [row] = _read(path)
    idweb, date, buyer, cpv, famille, type_avis = DILA_XML[name]
    assert row["id_avis"] == f"boamp:{idweb}" and row["source"] == "boamp"
    assert row["date_publication"] == dt.date.fromisoformat(date)
    assert row["acheteur_nom"] == buyer and row["acheteur_pays"] == "FRA"
    assert row["code_cpv"] == cpv
    assert (row["famille"], row["type_avis"]) == (famille, type_avis)
    assert row["objet"] and row["format_source"] == "boamp-dila-xml" and row["source_fichier"] == name
    assert row["url"] == f"https://www.boamp.fr/pages/avis/?q=idweb:{idweb}"
    assert row["structured_signals"] == ""  # none of these French notices is an innovation partnership


def test_dila_xml_amounts_procedures_and_deadlines(notices):
    rows = {p.name: _read(p)[0] for p in (notices / "boamp" / "dila_xml_v230").glob("*.xml")}
    assert (rows["test-pub-5.xml"]["montant"], rows["test-pub-5.xml"]["montant_nature"]) == (7416666.0, "estime")
    assert rows["test-pub-5.xml"]["nb_lots"] == 2  # lots of 1 083 333 and 6 333 333 EUR
    assert (rows["test-pub-7.xml"]["montant"], rows["test-pub-7.xml"]["montant_nature"]) == (3113000.0, "estime")
    assert (rows["test-attribution-10.xml"]["montant"], rows["test-attribution-10.xml"]["montant_nature"]) == (
        348852.0, "attribue")
    assert rows["test-attribution-5.xml"]["montant"] == 159691.6
    assert rows["test-attribution-2.xml"]["montant"] == 38820.0  # VALEUR_TOTALE of the award
    assert rows["test-attribution-6.xml"]["montant"] is None  # MONTANT_INDEFINI
    assert rows["test-attribution-10.xml"]["procedure"] == "Dialogue compétitif"
    assert rows["test-pub.xml"]["procedure"] == "Procédure ouverte"
    assert rows["test-pub-3.xml"]["procedure"] == "Procédure restreinte"
    assert rows["test-attribution-3.xml"]["procedure"] == "Procédure adaptée"
    assert rows["test-pub.xml"]["date_limite_reponse"] == dt.date(2017, 2, 7)
    assert rows["test-pub.xml"]["nature_marche"] == "services"


def test_ods_records_page_of_v110_notices(notices):
    path = notices / "boamp" / "ods_api_v2.1" / "records_20_notices_2006_Boamp_v110.json"
    assert sniff_notice(path.read_bytes()[:65536]) == "boamp-ods-json"
    rows = _read(path)
    assert len(rows) == 20
    assert all(r["id_avis"].startswith("boamp:") and r["date_publication"] in (dt.date(2006, 7, 4),
                                                                              dt.date(2006, 7, 5)) for r in rows)
    assert all(r["acheteur_nom"] and r["objet"] and r["famille"] == "FNS" for r in rows)
    assert all(r["structured_signals"] == "" for r in rows)
    first = rows[0]
    assert first["id_avis"] == "boamp:BXP06181020621O"
    assert first["acheteur_nom"] == "ville de Chenôve."
    assert first["objet"].startswith("travaux de restructuration, extension et création d'un bassin")
    assert (first["procedure"], first["nature_marche"], first["type_avis"]) == (
        "Procédure négociée", "travaux", "avis_marche")
    assert first["date_limite_reponse"] == dt.date(2006, 7, 21)
    assert first["url"] == "https://www.boamp.fr/pages/avis/?q=idweb:BXP06181020621O"
    by_id = {r["id_avis"]: r for r in rows}
    mayenne = by_id["boamp:BWP06181100013U"]
    assert mayenne["code_cpv"] == "45454000" and mayenne["anomalies"] == "cpv_reformate"  # "45454000." in donnees
    assert sum(1 for r in rows if r["code_cpv"]) == 11
    assert by_id["boamp:BWP06181000031P"]["type_avis"] == "annulation"
    assert by_id["boamp:BWP06184060013B"]["type_avis"] == "rectificatif"


def test_retired_dila_api_notice(notices):
    path = notices / "boamp" / "legacy_dila_api_v230" / "20-152081.json"
    assert sniff_notice(path.read_bytes()) == "boamp-dila-api-json"
    [row] = _read(path)
    assert row["id_avis"] == "boamp:20-152081" and row["format_source"] == "boamp-dila-api-json"
    assert row["date_publication"] == dt.date(2020, 12, 14)  # epoch ms 1607900400000, Paris time
    assert row["acheteur_nom"] == "Commune de Berre l'Etang"
    assert (row["famille"], row["type_avis"], row["procedure"]) == ("MAPA", "avis_marche", "Procédure adaptée")
    assert row["nature_marche"] == "services" and row["code_cpv"] is None
    assert row["date_limite_reponse"] == dt.date(2021, 3, 1)
    assert row["objet"].startswith("services de spectacles musicaux")
    assert row["structured_signals"] == ""  # partenariatinnovation is null


def test_ted_search_response(notices):
    path = notices / "ted" / "api_v3" / "search_response_2_notices.json"
    assert sniff_notice(path.read_bytes()) == "ted-search-json"
    rows = _read(path)
    assert [r["id_avis"] for r in rows] == ["ted:67623-2022", "ted:67623-2022"]
    assert rows[0]["date_publication"] == dt.date(2022, 2, 7)  # PD 2022-02-06T23:00:00Z
    assert rows[0]["url"] == "https://ted.europa.eu/fr/notice/-/detail/67623-2022"
    kept, pairs = deduplicate(rows)
    assert [r["id_avis"] for r in kept] == ["ted:67623-2022"] and pairs == [("ted:67623-2022", "ted:67623-2022")]


EFORMS = {
    # file: (id, type, date, buyer, buyer id, country, CPV, procedure, lots, signals)
    "00047522-2024_FRA_cn-standard_open.xml": (
        "ted:47522-2024", "avis_marche", "2024-01-24", "Communauté de Communes du Piémont Cévenol", "20003441100013",
        "FRA", "90511100", "Procédure ouverte", 2, ""),
    "00219998-2024_FRA_pin-cfc-standard.xml": (
        "ted:219998-2024", "avis_preinformation", "2024-04-15", "Communauté d'agglomération CAP Excellence",
        "20001865300051", "FRA", "90500000", "Procédure ouverte", 1, ""),
    "00041387-2024_FRA_cn-desg_restricted.xml": (
        "ted:41387-2024", "avis_marche", "2024-01-22", "Région Nouvelle-Aquitaine", "20005375900011", "FRA",
        "71000000", "Procédure restreinte", 1, ""),
    "00191536-2024_NLD_can-standard.xml": (
        "ted:191536-2024", "avis_attribution", "2024-04-02", "Waterschap Rivierenland", "30281419", "NLD",
        "45000000", "Procédure ouverte", 1, ""),
    "553508-2023_BEL_pin-cfc-social_innovation-partnership.xml": (
        "ted:553508-2023", "avis_preinformation", "2023-09-14", "Opdrachtencentrale vzw", "0524818005_1607", "BEL",
        "79300000", "Partenariat d'innovation", 1, "procedure_partenariat_innovation"),
}


@pytest.mark.parametrize("name", sorted(EFORMS))
def test_eforms_notices(notices, name):
    path = notices / "ted" / "eforms_xml" / name
    assert sniff_notice(path.read_bytes()[:65536]) == "ted-eforms-xml"
    [row] = _read(path)
    id_avis, type_avis, date, buyer, buyer_id, country, cpv, procedure, lots, signals = EFORMS[name]
    assert (row["id_avis"], row["type_avis"], row["date_publication"]) == (id_avis, type_avis,
                                                                           dt.date.fromisoformat(date))
    assert (row["acheteur_nom"], row["acheteur_id"], row["acheteur_pays"]) == (buyer, buyer_id, country)
    assert (row["code_cpv"], row["procedure"], row["nb_lots"]) == (cpv, procedure, lots)
    assert row["structured_signals"] == signals
    assert row["objet"] and row["id_procedure"] and row["source"] == "ted"


def test_eforms_amounts_and_deadlines(notices):
    folder = notices / "ted" / "eforms_xml"
    award = _read(folder / "00191536-2024_NLD_can-standard.xml")[0]
    assert (award["montant"], award["montant_nature"]) == (3887000.0, "attribue")  # not the 7 M estimate
    bel = _read(folder / "553508-2023_BEL_pin-cfc-social_innovation-partnership.xml")[0]
    assert (bel["montant"], bel["montant_nature"]) == (500000.0, "estime")
    fra = _read(folder / "00047522-2024_FRA_cn-standard_open.xml")[0]
    assert fra["montant"] is None and fra["date_limite_reponse"] == dt.date(2024, 2, 28)
    assert fra["id_procedure"] == "240d1ad9-b2d8-45ec-bea9-d11e7a75b28e"
    assert fra["objet"].startswith("Prestations de collecte des colonnes de verre et de papier")


def test_bt776_codes_inserted_in_the_real_french_notice(notices, tmp_path):
    """The real FRA cn-standard with BT-06/BT-776 codes added per lot at test time (nothing derived is kept)."""
    root = parse_xml((notices / "ted" / "eforms_xml" / "00047522-2024_FRA_cn-standard_open.xml").read_bytes())
    codes = {"LOT-0001": [("strategic-procurement", "inn-pur")],
             "LOT-0002": [("innovative-acquisition", "mar-nov"), ("innovative-acquisition", "rd-act")]}
    for lot in root.iterfind("cac:ProcurementProjectLot", NS):
        project = lot.find("cac:ProcurementProject", NS)
        for list_name, code in codes[lot.findtext("cbc:ID", namespaces=NS)]:
            extra = etree.SubElement(project, f"{{{NS['cac']}}}ProcurementAdditionalType")
            etree.SubElement(extra, f"{{{NS['cbc']}}}ProcurementTypeCode", listName=list_name).text = code
    assert lot_innovation_codes(root) == {"LOT-0001": ["inn-pur"], "LOT-0002": ["mar-nov", "rd-act"]}
    path = tmp_path / "cn-innovation.xml"
    path.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    [row] = _read(path)
    assert row["structured_signals"] == "eforms_inn_pur|eforms_mar_nov|eforms_rd_act"
    assert row["id_avis"] == "ted:47522-2024" and row["acheteur_id"] == "20003441100013"


def test_boamp_copy_of_the_real_ted_notice_is_merged_into_it(notices):
    ted = _read(notices / "ted" / "eforms_xml" / "00047522-2024_FRA_cn-standard_open.xml")[0]
    from pipelines.notices.boamp import parse_boamp_record

    boamp = parse_boamp_record({
        "idweb": "24-9999", "famille": "JOUE", "nature": "APPEL_OFFRE", "dateparution": "2024-01-23",
        "nomacheteur": "CC du Piémont Cévenol", "objet": "Collecte du verre et du papier",
        "contractfolderid": ted["id_procedure"], "source_schema": "3.2.5", "donnees": None,
    })
    kept, pairs = deduplicate([boamp, ted])
    assert pairs == [("boamp:24-9999", "ted:47522-2024")]
    assert [r["id_avis"] for r in kept] == ["ted:47522-2024"]
    assert kept[0]["famille"] == "JOUE" and kept[0][LINKED_KEY] == "boamp:24-9999"
    assert kept[0]["acheteur_nom"] == "Communauté de Communes du Piémont Cévenol"  # TED's value is kept


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def test_every_real_notice_makes_a_valid_avis_row(notices, tmp_path):
    rows = [row for path in sorted(notices.rglob("*")) if path.suffix in (".json", ".xml")
            for row in _read(path)]
    assert len(rows) == 20 + 1 + 15 + 2 + 5
    assert all(list(r) == list(ROW_COLUMNS) for r in rows)
    kept, _ = deduplicate(rows)
    decision = classify(pd.DataFrame(kept)).to_dict("records")
    published = [row | {k: (bool(v) if k == "innovant" else v) for k, v in d.items()}
                 for row, d in zip(kept, decision)]
    by_id = {row["id_avis"]: row for row in published}
    bel = by_id["ted:553508-2023"]
    assert bel["innovant"] is True and "procedure_partenariat_innovation" in bel["innovation_signaux"]
    assert by_id["ted:47522-2024"]["innovant"] is False
    path = tmp_path / "avis.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(field_names("avis"))
        for record in published:
            writer.writerow([_cell(record.get(name)) for name in field_names("avis")])
    report = validate_csv(path, "avis")
    assert report.valid and report.row_count == len(kept) == len(rows) - 1, report.errors
    assert json.loads(json.dumps(report.errors)) == []
