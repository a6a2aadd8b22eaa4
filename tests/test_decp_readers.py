"""Format detection and streaming readers, on small files built for each case."""

import json

import pytest

from pipelines.decp.readers import (
    CONCESSION,
    CSV_FLATTENED,
    CSV_TABULAR,
    JSON_2019,
    JSON_2024,
    MARCHE,
    XML_2019,
    XML_2024,
    FileRejected,
    read_records,
)

LIMIT = 10 * 1024 * 1024


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def _read(path, limit=LIMIT):
    return list(read_records(path, limit))


def test_json_2024_wrapper_with_bom_and_concessions(tmp_path):
    doc = {"marches": {"marche": [{"id": "A"}, {"id": "B"}], "contrat-concession": [{"id": "C"}]}}
    path = _write(tmp_path, "x.json", b"\xef\xbb\xbf" + json.dumps(doc).encode())
    records = _read(path)
    assert [(r.kind, r.data["id"], r.format_source) for r in records] == [
        (MARCHE, "A", JSON_2024), (MARCHE, "B", JSON_2024), (CONCESSION, "C", JSON_2024)]
    assert [r.position for r in records] == [0, 1, 2]


def test_json_2019_list_leaves_kind_to_the_record(tmp_path):
    path = _write(tmp_path, "x.json", json.dumps({"marches": [{"id": "A"}, "texte"]}))
    records = _read(path)
    assert [(r.kind, r.data, r.format_source) for r in records] == [(None, {"id": "A"}, JSON_2019),
                                                                    (None, "texte", JSON_2019)]


def test_json_single_record_instead_of_list(tmp_path):
    path = _write(tmp_path, "x.json", json.dumps({"marches": {"marche": {"id": "A"}}}))
    assert [(r.kind, r.data["id"]) for r in _read(path)] == [(MARCHE, "A")]


def test_truncated_json_keeps_complete_records_then_rejects(tmp_path):
    full = json.dumps({"marches": {"marche": [{"id": "A", "objet": "x"}, {"id": "B", "objet": "y"}]}})
    path = _write(tmp_path, "x.json", full[: full.index('"B"') + 8])
    seen = []
    with pytest.raises(FileRejected) as excinfo:
        for record in read_records(path, LIMIT):
            seen.append(record.data["id"])
    assert seen == ["A"]
    assert excinfo.value.motif == "json_invalide"
    assert "après 1 enregistrements" in excinfo.value.detail


def test_json_with_nan_falls_back_to_the_standard_parser(tmp_path):
    path = _write(tmp_path, "x.json", '{"marches": [{"id": "A", "montant": NaN}, {"id": "B", "montant": 3}]}')
    records = _read(path)
    assert [r.data["id"] for r in records] == ["A", "B"]
    assert records[1].data["montant"] == 3


def test_json_that_is_not_decp_names_its_keys(tmp_path):
    path = _write(tmp_path, "schema.json", json.dumps({"$schema": "x", "properties": {}}))
    with pytest.raises(FileRejected) as excinfo:
        _read(path)
    assert excinfo.value.motif == "format_non_reconnu"
    assert "$schema" in excinfo.value.detail


def test_size_limit_rejects_without_reading(tmp_path):
    path = _write(tmp_path, "x.json", json.dumps({"marches": [{"id": "A"}]}))
    with pytest.raises(FileRejected) as excinfo:
        _read(path, limit=10)
    assert excinfo.value.motif == "fichier_trop_volumineux"


@pytest.mark.parametrize(("content", "motif"), [(b"", "format_non_reconnu"), (b"\x00\x01\x02binary",
                                                                              "format_non_reconnu"),
                                               (b"hello world", "format_non_reconnu")])
def test_unknown_content(tmp_path, content, motif):
    with pytest.raises(FileRejected) as excinfo:
        _read(_write(tmp_path, "x.dat", content))
    assert excinfo.value.motif == motif


XML_2024_DOC = """<?xml version="1.0" encoding="UTF-8"?>
<marches>
  <marche>
    <id>M1</id><acheteur><id>12345678900011</id></acheteur>
    <marcheInnovant>oui</marcheInnovant>
    <titulaires><titulaire><id>1</id><typeIdentifiant>SIRET</typeIdentifiant></titulaire>
                <titulaire><id>2</id><typeIdentifiant>SIRET</typeIdentifiant></titulaire></titulaires>
    <origineUE/>
  </marche>
  <!-- un commentaire -->
  <contrat-concession><id>C1</id><autoriteConcedante><id>1</id></autoriteConcedante></contrat-concession>
</marches>"""


def test_xml_records_become_dicts(tmp_path):
    records = _read(_write(tmp_path, "x.xml", XML_2024_DOC))
    assert [(r.kind, r.format_source) for r in records] == [(MARCHE, XML_2024), (CONCESSION, XML_2019)]
    marche = records[0].data
    assert marche["marcheInnovant"] == "oui"
    assert marche["origineUE"] is None
    assert [t["id"] for t in marche["titulaires"]["titulaire"]] == ["1", "2"]


def test_xml_single_record_root_and_latin1(tmp_path):
    doc = '<?xml version="1.0" encoding="ISO-8859-1"?><marche><id>M1</id><objet>Élagage</objet></marche>'
    records = _read(_write(tmp_path, "x.xml", doc.encode("latin-1")))
    assert records[0].data == {"id": "M1", "objet": "Élagage"}
    assert records[0].format_source == XML_2019


def test_xml_with_entities_is_refused(tmp_path):
    bomb = ('<?xml version="1.0"?><!DOCTYPE marches [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            "<marches><marche><id>&b;</id></marche></marches>")
    with pytest.raises(FileRejected) as excinfo:
        _read(_write(tmp_path, "x.xml", bomb))
    assert excinfo.value.motif == "xml_invalide"
    xxe = ('<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           "<marches><marche><id>&x;</id></marche></marches>")
    with pytest.raises(FileRejected):
        _read(_write(tmp_path, "y.xml", xxe))


def test_xml_other_root_is_not_decp(tmp_path):
    with pytest.raises(FileRejected) as excinfo:
        _read(_write(tmp_path, "x.xml", "<ANNONCE><GESTION/></ANNONCE>"))
    assert excinfo.value.motif == "format_non_reconnu"
    assert "ANNONCE" in excinfo.value.detail


def test_malformed_xml(tmp_path):
    with pytest.raises(FileRejected) as excinfo:
        _read(_write(tmp_path, "x.xml", "<marches><marche><id>1</id></marche><marche>"))
    assert excinfo.value.motif == "xml_invalide"


def test_flattened_csv_rebuilds_nested_records(tmp_path):
    csv_text = (
        "id,acheteur.id,objet,titulaires.1.id,titulaires.1.denominationSociale,titulaires.2.id,lieuExecution.code\n"
        "2019X01,12345678900011,Entretien,111,Alpha,222,75001\n"
    )
    records = _read(_write(tmp_path, "x.csv", csv_text))
    assert records[0].format_source == CSV_FLATTENED
    data = records[0].data
    assert data["acheteur"] == {"id": "12345678900011"}
    assert [t["id"] for t in data["titulaires"]] == ["111", "222"]
    assert data["lieuExecution"] == {"code": "75001"}


def test_tabular_csv_merges_one_row_per_supplier(tmp_path):
    csv_text = (
        "uid,id,acheteur_id,acheteur_nom,titulaire_id,titulaire_nom,montant\n"
        "A1,1,A,Ville,T1,Un,100\n"
        "B2,2,B,Dept,T3,Trois,50\n"
        "A1,1,A,Ville,T2,Deux,100\n"
    )
    records = _read(_write(tmp_path, "x.csv", csv_text))
    assert [(r.format_source, r.data["uid"], [t["id"] for t in r.data["titulaires"]]) for r in records] == [
        (CSV_TABULAR, "A1", ["T1", "T2"]), (CSV_TABULAR, "B2", ["T3"])]


def test_nan_fallback_keeps_document_order_with_concessions_first(tmp_path):
    text = ('{"marches": {"contrat-concession": [{"id": "C1"}, {"id": "C2"}], '
            '"marche": [{"id": "M1"}, {"id": "M2", "montant": NaN}]}}')
    records = _read(_write(tmp_path, "x.json", text))
    assert [(r.kind, r.data["id"], r.position) for r in records] == [
        (CONCESSION, "C1", 0), (CONCESSION, "C2", 1), (MARCHE, "M1", 2), (MARCHE, "M2", 3)]


def test_deeply_nested_record_is_unreadable_not_fatal(tmp_path):
    from pipelines.decp.readers import UnreadableRecord

    text = '{"marches": [' + "[" * 100_000 + "]" * 100_000 + ', {"id": "A"}]}'
    records = _read(_write(tmp_path, "x.json", text))
    assert isinstance(records[0].data, UnreadableRecord) and records[1].data == {"id": "A"}


def test_deep_nesting_outside_records_rejects_the_file(tmp_path):
    with pytest.raises(FileRejected) as excinfo:
        _read(_write(tmp_path, "x.json", '{"autre": ' + "[" * 100_000 + "]" * 100_000 + "}"))
    assert excinfo.value.motif == "json_invalide" and "niveaux" in excinfo.value.detail


def test_windows_1252_csv_detected_past_the_first_block(tmp_path):
    rows = "".join(f"2019X{i:05d},12345678900011,Entretien des espaces verts\n" for i in range(3000))
    content = ("id,acheteur.id,objet\n" + rows + "2019Y,12345678900011,Élagage d'arbres\n").encode("cp1252")
    assert len(content) > 70_000
    records = _read(_write(tmp_path, "x.csv", content))
    assert len(records) == 3001 and records[-1].data["objet"] == "Élagage d'arbres"


def test_tabular_lots_under_one_uid_stay_separate_and_old_versions_are_counted(tmp_path):
    from pipelines.decp.readers import UnreadableRecord

    csv_text = (
        "uid,id,acheteur_id,titulaire_id,montant,dateNotification,dureeMois,donneesActuelles\n"
        "A1,1,A,T1,100,2024-07-01,12,true\n"
        "A1,1,A,T2,100,2024-07-01,12,true\n"
        "A1,1,A,T1,100,2024-07-01,12,true\n"
        "A1,1,A,T3,250,2024-07-01,12,true\n"
        "A1,1,A,T1,90,2024-07-01,12,false\n"
    )
    records = _read(_write(tmp_path, "x.csv", csv_text))
    contracts = [r for r in records if isinstance(r.data, dict)]
    assert [([t["id"] for t in r.data["titulaires"]], r.data["montant"]) for r in contracts] == [
        (["T1", "T2"], "100"), (["T3"], "250")]
    old = [(r.data.motif, r.position) for r in records if isinstance(r.data, UnreadableRecord)]
    assert old == [("version_anterieure", 4)]


def test_xml_with_nested_marches_lists(tmp_path):
    records = _read(_write(tmp_path, "x.xml", "<marches><marches><marche><id>X1</id></marche></marches></marches>"))
    assert [r.data["id"] for r in records] == ["X1"]


def test_xml_dtd_hidden_after_a_long_comment_is_refused(tmp_path):
    doc = ('<?xml version="1.0"?><!--' + "x" * 100_000 + '--><!DOCTYPE marches [<!ENTITY a "boom">]>'
           "<marches><marche><id>&a;</id></marche></marches>")
    with pytest.raises(FileRejected) as excinfo:
        _read(_write(tmp_path, "x.xml", doc))
    assert excinfo.value.motif == "xml_invalide"


def test_flattened_csv_one_item_lists_are_unwrapped(tmp_path):
    """The eclaireur-public flattening writes each supplier field as "['…']": the value inside is published."""
    from pipelines.decp.readers import read_records

    path = tmp_path / "aplati.csv"
    path.write_text(
        "id,acheteur.id,objet,montant,dateNotification,procedure,nature,titulaires.1.typeIdentifiant,"
        "titulaires.1.id,titulaires.1.denominationSociale\n"
        "2019-1,11000027000014,Nettoyage,1000,2019-05-01,Procédure adaptée,MARCHE,['SIRET'],['39436007700025'],"
        "\"['SOCIETE A, B']\"\n",
        encoding="utf-8",
    )
    (record,) = [r.data for r in read_records(path, 1 << 20)]
    assert record["titulaires"] == [{"typeIdentifiant": "SIRET", "id": "39436007700025",
                                     "denominationSociale": "SOCIETE A, B"}]
