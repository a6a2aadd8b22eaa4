"""The official fictitious examples (139bercy/format-commande-publique): JSON and XML twins give the same rows."""

import datetime as dt

import pytest

from pipelines.decp.ingest import ingest_rows

TODAY = dt.date(2026, 11, 26)
# The other examples (avec-modifications, paquet) differ between their JSON and XML versions in the official
# repository itself, so only these are true twins.
PAIRS_2019 = ("mar-basique", "mar-basique-avec-uid", "cc-basique", "cc-basique-avec-uid")


def _rows(path):
    ingested = ingest_rows([path], max_bytes=10**8, today=TODAY)
    assert ingested.rejets == []
    # Anomalies may differ for real: the JSON example writes dates with a timezone, the XML one does not.
    strip = {"format_source", "source_fichier", "_chemin", "_rang_fichier", "_anomalies"}
    return ([{k: v for k, v in r.items() if k not in strip} for r in ingested.marches],
            [{k: v for k, v in r.items() if k not in strip} for r in ingested.concessions])


@pytest.mark.parametrize("name", PAIRS_2019)
def test_json_and_xml_2019_examples_normalise_identically(real_data, name):
    folder = real_data / "decp/synthetic-examples/format-2019-v1.5"
    assert _rows(folder / f"{name}.json") == _rows(folder / f"{name}.xml")


def test_text_values_are_not_anomalies_in_xml(real_data):
    ingested = ingest_rows([real_data / "decp/synthetic-examples/format-2019-v1.5/paquet.xml"], 10**8, TODAY)
    assert not {"montant_texte", "nombre_texte"} & set().union(*(r["_anomalies"] for r in ingested.marches))


def test_2024_xml_example_reads_oui_as_true(real_data):
    marches, _ = _rows(real_data / "decp/synthetic-examples/format-2024-v2/Marche.xml")
    assert marches and all(m["marche_innovant_declare"] is True for m in marches)
    assert marches[0]["code_cpv"] == "45000000"  # check digit dropped
    assert marches[0]["techniques"] == "Concours|Accord-cadre"


def test_2024_json_examples_apply_modifications(real_data):
    marches, concessions = _rows(real_data / "decp/synthetic-examples/format-2024-v2/marches_concessions.json")
    assert len(marches) == 2 and len(concessions) == 2
    modified, _ = _rows(real_data / "decp/synthetic-examples/format-2024-v2/marches_avec_modifications.json")
    assert any(m["nb_modifications"] > 0 and m["montant"] != m["montant_initial"] for m in modified)
