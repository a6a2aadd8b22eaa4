"""Record normalisation and consolidation on hand-built records of each shape met in real files."""

import datetime as dt
from collections import Counter

import pandas as pd
import pytest

from pipelines.decp import batch
from pipelines.decp.consolidate import consolidate, consolidate_batch
from pipelines.decp.records import RecordRejected, normalize_concession, normalize_marche, record_kind
from pipelines.tables import rejets_table, titulaires_table

TODAY = dt.date(2026, 11, 26)
BUYER = "21590163800019"


def _v2(**overrides):
    record = {
        "id": "2024-001",
        "acheteur": {"id": BUYER},
        "nature": "Marché",
        "objet": "Lot 7 : menuiseries intérieures",
        "codeCPV": "45421000",
        "procedure": "Procédure adaptée",
        "lieuExecution": {"code": "53470", "typeCode": "Code postal"},
        "dureeMois": 14,
        "dateNotification": "2024-06-29",
        "datePublicationDonnees": "2024-07-06",
        "montant": 55600,
        "marcheInnovant": False,
        "techniques": {"technique": ["Accord-cadre"]},
        "titulaires": [{"titulaire": {"typeIdentifiant": "SIRET", "id": "79466656000022"}}],
    }
    record.update(overrides)
    return record


def test_v2_record_with_modifications_holds_current_values():
    row = normalize_marche(_v2(modifications=[
        {"modification": {"id": 2, "dateNotificationModification": "2024-09-01", "montant": 60000,
                          "titulaires": [{"titulaire": {"typeIdentifiant": "SIRET", "id": "11111111111111"}}]}},
        {"modification": {"id": 1, "dateNotificationModification": "2024-08-01", "montant": 58000, "dureeMois": 20}},
    ]), TODAY)
    assert row["uid"] == BUYER + "2024-001"
    assert row["montant_initial"] == 55600
    assert row["montant"] == 60000  # the later modification wins, whatever the list order
    assert row["duree_mois"] == 20
    assert [p[0] for p in row["_titulaires"]] == ["11111111111111"]
    assert row["nb_modifications"] == 2
    assert row["_derniere_modification"] == dt.date(2024, 9, 1)
    assert row["techniques"] == "Accord-cadre"
    assert row["marche_innovant_declare"] is False


def test_2019_messy_record():
    record = {
        "id": "202117F000000000",
        "acheteur": {"id": BUYER, "nom": "Ville de Croix (59)"},
        "nature": "ACCORD-CADRE",
        "objet": "Mobilier de fleurissement",
        "codeCPV": "34928400",
        "procedure": "Appel d offres ouvert",
        "lieuExecution": {"code": "59170", "typeCode": "Code Postal", "nom ": "Croix"},
        "dureeMois": "36",
        "dateNotification": "2021-12-11",
        "montant": "30000.00",
        "titulaires": [[{"id": "81809944200019", "typeIdentifiant": "", "denominationSociale": "DECOPUB"}]],
        "modifications": [],
    }
    row = normalize_marche(record, TODAY)
    assert row["acheteur_nom"] == "Ville de Croix (59)"
    assert row["procedure"] == "Appel d'offres ouvert"
    assert row["nature"] == "Marché" and row["techniques"] == "Accord-cadre"
    assert row["montant"] == 30000.0 and row["duree_mois"] == 36
    assert row["lieu_execution_type"] == "Code postal"
    assert row["_titulaires"] == [("81809944200019", None, "DECOPUB")]
    assert {"montant_texte", "procedure_libelle_ancien", "nature_2019", "type_code_lieu_casse"} <= row["_anomalies"]


def test_semi_flattened_record():
    record = {
        "id": "202073459100", "acheteur_id": "39028994000012", "acheteur.nom": None,
        "titulaire_id": "83057773000021", "titulaire_typeIdentifiant": "SIRET",
        "titulaire_denominationSociale": "REVETECH", "modifications": "[]",
        "lieuExecution": '{"code": "43051", "typeCode": "Code postal"}', "montant": 51388.0, "dureeMois": 2.0,
        "marcheInnovant": "NC", "_type": "Marché", "valeurGlobale": 0.0, "autoriteConcedante": "",
        "technique": '{"technique": ["Sans objet"]}',
    }
    assert record_kind(None, record) == "marche"
    row = normalize_marche(record, TODAY)
    assert row["uid"] == "39028994000012202073459100"
    assert row["_titulaires"] == [("83057773000021", "SIRET", "REVETECH")]
    assert row["lieu_execution_code"] == "43051"
    assert row["marche_innovant_declare"] is None
    assert row["techniques"] is None


def test_modifications_as_python_repr_string():
    row = normalize_marche(_v2(modifications="[{'objetModification': 'avenant 1', 'montant': '70000', "
                                             "'dateNotificationModification': '2024-10-01'}]"), TODAY)
    assert row["montant"] == 70000
    assert "modifications_texte" in row["_anomalies"]


@pytest.mark.parametrize(("record", "motif"), [
    (_v2(id=""), "identifiant_manquant"),
    (_v2(id="   "), "identifiant_manquant"),
    (_v2(acheteur={"id": ""}), "acheteur_manquant"),
    ("pas un objet", "enregistrement_non_objet"),
])
def test_unusable_records_are_rejected_with_reason(record, motif):
    with pytest.raises(RecordRejected) as excinfo:
        normalize_marche(record, TODAY)
    assert excinfo.value.motif == motif


def test_concession_2019_and_zero_subsidy():
    record = {"_type": "Contrat de concession", "id": "C1", "autoriteConcedante": {"id": BUYER, "nom": "Millau"},
              "nature": "Concession de travaux", "valeurGlobale": 27860000, "montantSubventionPublique": 0,
              "dateSignature": "2021-02-21", "concessionnaires": [{"id": "81223113200026", "typeIdentifiant": "SIRET"}],
              "modifications": [{"valeurGlobale": 30000000, "dateSignatureModification": "2022-01-01"}]}
    assert record_kind(None, record) == "concession"
    row = normalize_concession(record, TODAY)
    assert row["valeur_globale"] == 30000000 and row["montant_subvention_publique"] == 0.0
    assert row["concessionnaires_ids"] == "81223113200026"


def _rows(*records):
    rows = []
    for rank, record in enumerate(records):
        row = normalize_marche(record, TODAY)
        row.update(source_fichier=f"f{rank}.json", format_source="decp-2024-json", _chemin=f"f{rank}.json",
                   _rang_fichier=rank, _position=0)
        rows.append(row)
    return rows


def test_republications_merge_into_latest_version():
    first = _v2()
    later = _v2(modifications=[{"modification": {"id": 1, "dateNotificationModification": "2024-09-01",
                                                 "montant": 61000}}])
    kept, rejected = consolidate(_rows(later, first, _v2()), "date_notification", "montant_initial", "marché")
    assert rejected == []
    assert len(kept) == 1
    assert kept[0]["montant"] == 61000
    assert kept[0]["nb_versions_fusionnees"] == 3


def test_object_filled_in_later_is_the_same_contract():
    kept, rejected = consolidate(_rows(_v2(objet=""), _v2()), "date_notification", "montant_initial", "marché")
    assert (len(kept), rejected) == (1, [])


def test_reused_id_for_other_lot_is_a_collision():
    kept, rejected = consolidate(
        _rows(_v2(objet="Lot 1 : gros oeuvre", dateNotification="2024-01-10"),
              _v2(objet="Lot 2 : peintures", dateNotification="2024-03-10")),
        "date_notification", "montant_initial", "marché")
    assert [k["objet"] for k in kept] == ["Lot 2 : peintures"]
    assert [r["motif"] for r in rejected] == ["uid_en_collision"]
    assert rejected[0]["fichier"] == "f0.json" and "Lot 1" in rejected[0]["detail"]


def test_columns_consolidate_as_the_rows_do():
    """consolidate_batch (the pipeline's, on columns) keeps the rows, versions and rejets consolidate keeps."""
    modified = [{"modification": {"id": 1, "dateNotificationModification": "2024-09-01", "montant": 61000}}]
    records = [_v2(), _v2(id="SEUL"), _v2(modifications=modified), _v2(objet="Lot 2", dateNotification="2024-03-10"),
               _v2(id="SANS", objet="", montant=100), _v2(id="SANS", objet="", montant=250), _v2()]
    kept, rejected = consolidate(_rows(*records), "date_notification", "montant_initial", "marché")
    consolidated = consolidate_batch(batch.from_rows(_rows(*records)), "date_notification", "montant_initial",
                                     "marché")
    columns, merged, rejected_too = consolidated.kept, consolidated.merged, consolidated.collisions
    frame = columns.frame.set_index("uid")
    assert sorted(frame.index) == sorted(k["uid"] for k in kept) and len(frame) == 3
    for row in kept:
        assert (frame.at[row["uid"], "montant"], frame.at[row["uid"], "nb_versions_fusionnees"],
                frame.at[row["uid"], "_chemin"]) == (row["montant"], row["nb_versions_fusionnees"], row["_chemin"])
    assert merged == Counter(path for row in kept for path in row["_fusions"]) and sum(merged.values()) == 2
    assert rejected_too == rejected and len(rejected) == 2
    # Every record is kept or among the others, merged or rejected with its contract.
    assert len(columns) + len(consolidated.others) == len(records)
    assert (~consolidated.others.frame["_fusionne"]).sum() == len(rejected)
    suppliers = titulaires_table(columns.frame["uid"], columns.links)
    assert list(suppliers["uid"]) == sorted(k["uid"] for k in kept for _ in k["_titulaires"])


def test_columns_reject_in_reading_order_across_same_named_files():
    """Two files published under one name (a/x.json and b/x.json given as files): their collision rejets share
    (fichier, position), so the pipeline's order must be the rows' reading order, as consolidate() gives it."""
    def file(rank, *records):
        rows = []
        for position, (ident, objet, notified) in enumerate(records):
            row = normalize_marche(_v2(id=ident, objet=objet, dateNotification=notified), TODAY)
            row.update(source_fichier="x.json", format_source="decp-2024-json", _chemin="x.json",
                       _rang_fichier=rank, _position=position)
            rows.append(row)
        return rows

    first = file(0, ("B", "Lot p", "2024-01-01"), ("A", "Lot q", "2024-02-01"))
    second = file(1, ("A", "Lot p", "2024-01-01"), ("B", "Lot q", "2024-02-01"))
    _, rejected = consolidate(first + second, "date_notification", "montant_initial", "marché")
    columns = batch.concat([batch.from_rows(first), batch.from_rows(second)])
    rejected_too = consolidate_batch(columns, "date_notification", "montant_initial", "marché").collisions
    assert [r["identifiant"] for r in rejected] == [BUYER + "B", BUYER + "A"]
    assert rejected_too == rejected
    pd.testing.assert_frame_equal(rejets_table(rejected_too), rejets_table(rejected))


def test_price_types_from_2024_list_and_from_2019_form():
    row = normalize_marche(_v2(formePrix="Mixte", typesPrix={"typePrix": ["Définitif ferme", "Provisoire"]}), TODAY)
    assert (row["forme_prix"], row["types_prix"]) == ("Mixte", "Définitif ferme|Provisoire")
    row = normalize_marche(_v2(formePrix="Révisable"), TODAY)
    assert (row["forme_prix"], row["types_prix"]) == (None, "Définitif révisable")
    assert "forme_prix_2019" in row["_anomalies"]


def test_numbered_modifications_win_over_odd_dates():
    row = normalize_marche(_v2(modifications=[
        {"modification": {"id": 2, "dateNotificationModification": "15/03/2024", "montant": 200}},
        {"modification": {"id": 1, "dateNotificationModification": "2024-02-01", "montant": 100}},
    ]), TODAY)
    assert row["montant"] == 200


def test_ids_typed_as_numbers():
    assert normalize_marche(_v2(id=2019001.0), TODAY)["id"] == "2019001"
    assert normalize_marche(_v2(id=1.5), TODAY)["id"] == "1.5"
    with pytest.raises(RecordRejected):
        normalize_marche(_v2(id=True), TODAY)


def test_empty_lists_as_text_do_not_make_a_concession():
    assert record_kind(None, {"id": "X", "concessionnaires": "[]", "autoriteConcedante": "{}"}) == "marche"


def test_implausible_duration_is_dropped():
    row = normalize_marche(_v2(dureeMois=1200), TODAY)
    assert row["duree_mois"] is None and "duree_aberrante" in row["_anomalies"]


def test_reworded_republication_is_the_same_contract_and_newest_version_wins():
    old = _v2(objet="Groupe scolaire des Reigniers: Lot 8 : Menuiseries intérieures")
    newer = _v2(objet="Groupe scolaire des Reigniers : Lot 08 : Menuiseries interieures",
                modifications=[{"modification": {"id": 1, "dateNotificationModification": "2024-09-01",
                                                 "montant": 25000}}])
    kept, rejected = consolidate(_rows(old, old, old, newer), "date_notification", "montant_initial", "marché")
    assert rejected == []
    assert [(k["montant"], k["nb_versions_fusionnees"]) for k in kept] == [(25000, 4)]


def test_untitled_lots_with_other_amounts_are_told_apart():
    kept, rejected = consolidate(_rows(_v2(objet="", montant=100), _v2(objet="", montant=250)),
                                 "date_notification", "montant_initial", "marché")
    assert len(kept) == 1 and [r["motif"] for r in rejected] == ["uid_en_collision"]


def test_anomalies_travel_pickled_with_their_source_kind():
    """Rows go through pickle (worker processes, reading cache): a row read from XML/CSV keeps ignoring the
    JSON-only codes after the trip, and one read from JSON keeps them."""
    import pickle

    for textual in (False, True):
        row = normalize_marche(_v2(montant="12000,50"), TODAY, textual=textual)
        back = pickle.loads(pickle.dumps(row["_anomalies"], protocol=pickle.HIGHEST_PROTOCOL))
        assert back == row["_anomalies"] and back.textual is textual
        assert ("montant_texte" in back) is not textual
        back.add("nombre_texte")
        assert ("nombre_texte" in back) is not textual


def test_repeated_values_give_the_same_rows_as_new_ones():
    """Parsers remember the values they met (memoised per text): a record seen again parses the same."""
    record = _v2(titulaires=[{"titulaire": {"typeIdentifiant": "SIRET", "id": "432 167 890 00012"}}],
                 dateNotification="03/05/2024")
    first, again = normalize_marche(record, TODAY), normalize_marche(dict(record), TODAY)
    assert first == again and first["_anomalies"] == again["_anomalies"]
    assert first["_titulaires"] == [("43216789000012", "SIRET", None)]
    assert first["date_notification"] == dt.date(2024, 5, 3) and "date_format_fr" in first["_anomalies"]


@pytest.mark.parametrize("uids", [
    ["b", "a", "c", "a", "b", "d"],
    ["x"],
    [],
    ["a", None, "b", None, "a"],
    ["é", "e", "é", "z"],
], ids=["doublons", "un", "vide", "manquants", "accents"])
def test_rows_read_more_than_once_are_those_duplicated_finds(uids):
    """consolidate_batch finds repeated uids between neighbours in uid order: the rows duplicated(keep=False)
    finds."""
    import numpy as np

    from pipelines.decp.consolidate import _read_more_than_once
    from pipelines.tables import uid_order

    column = pd.Series(uids, dtype="string")
    found = _read_more_than_once(column, uid_order(column))
    assert found.tolist() == np.flatnonzero(column.duplicated(keep=False).to_numpy()).tolist()
