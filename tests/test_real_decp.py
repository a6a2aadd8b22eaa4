"""The acceptance run on the real DECP samples, read in place (skipped when ../shared/data/real is absent)."""

import json
from pathlib import Path

import pandas as pd
import pytest

from pipelines import pipeline
from pipelines.decp.ingest import expand_inputs

DECP_DIRS = ("decp/decp2022-json", "decp/decp2019-json")


def _independent_contracts(files: list[Path]) -> tuple[set, int]:
    """Distinct (buyer SIRET, id) of the contract records, counted with the standard json module only."""
    keys, records = set(), 0
    for path in files:
        marches = json.loads(path.read_text(encoding="utf-8-sig"))["marches"]
        items = marches if isinstance(marches, list) else marches.get("marche", [])
        for item in items:
            if "concession" in str(item.get("_type", "")).casefold():
                continue
            records += 1
            buyer = item["acheteur"].get("id") if isinstance(item.get("acheteur"), dict) else item.get("acheteur_id")
            contract = str(item.get("id") or "").strip()
            if buyer and contract:
                keys.add((str(buyer).strip(), contract))
    return keys, records


@pytest.fixture(scope="module")
def published(real_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("pub") / "published"
    summary = pipeline.run_from_files([real_data / d for d in DECP_DIRS], out)
    tables = {name: pd.read_csv(out / "data" / f"{name}.csv", dtype=str, keep_default_na=False)
              for name in ("marches", "rejets", "titulaires", "concessions", "indicateurs")}
    return summary, out, tables


def test_one_row_per_distinct_contract(real_data, published):
    _, _, tables = published
    keys, records = _independent_contracts([f.path for f in expand_inputs([real_data / d for d in DECP_DIRS])])
    marches = tables["marches"]
    assert marches["uid"].is_unique
    assert len(marches) == len(keys)
    assert set(marches["uid"]) == {buyer + contract for buyer, contract in keys}
    assert records > len(keys)  # the samples do contain duplicates, so deduplication did something


def test_every_record_is_in_marches_or_in_rejets(real_data, published):
    _, _, tables = published
    marches_uids = set(tables["marches"]["uid"])
    rejected = {(Path(r.fichier).name, int(r.position)) for r in tables["rejets"].itertuples() if r.position}
    for path in [f.path for f in expand_inputs([real_data / d for d in DECP_DIRS])]:
        marches = json.loads(path.read_text(encoding="utf-8-sig"))["marches"]
        items = marches if isinstance(marches, list) else marches.get("marche", [])
        for position, item in enumerate(items):
            if "concession" in str(item.get("_type", "")).casefold():
                continue
            buyer = item["acheteur"].get("id") if isinstance(item.get("acheteur"), dict) else item.get("acheteur_id")
            uid = f"{buyer}{str(item.get('id') or '').strip()}"
            assert uid in marches_uids or (path.name, position) in rejected, (path.name, position)


def test_declared_innovative_records_keep_their_flag(real_data, published):
    _, _, tables = published
    marches = tables["marches"].set_index("uid")
    declared = []
    for path in sorted((real_data / "decp/decp2022-json").glob("*.json")):
        for item in json.loads(path.read_text(encoding="utf-8"))["marches"]["marche"]:
            if item.get("marcheInnovant") is True:
                declared.append(item["acheteur"]["id"] + item["id"].strip())
    assert len(declared) >= 20
    assert (marches.loc[declared, "marche_innovant_declare"] == "true").all()


def test_unusable_records_are_rejected_with_reason(published):
    _, _, tables = published
    rejets = tables["rejets"]
    croix = rejets[rejets["fichier"].str.contains("marches-securises")]
    assert (croix["motif"] == "identifiant_manquant").sum() == 33  # 33 records with "id": ""
    collisions = rejets[rejets["motif"] == "uid_en_collision"]
    assert len(collisions) > 0 and collisions["identifiant"].ne("").all()
    assert rejets["detail"].str.len().gt(10).all()


def test_messy_values_are_normalised(published):
    _, _, tables = published
    marches = tables["marches"]
    croix = marches[marches["acheteur_id"] == "21590163800019"]
    assert croix["procedure"].isin(["Procédure adaptée", "Appel d'offres ouvert",
                                    "Marché passé sans publicité ni mise en concurrence préalable", ""]).all()
    assert croix["lieu_execution_type"].eq("Code postal").any()
    assert croix["anomalies"].str.contains("montant_texte").any()
    upper_case = marches[marches["anomalies"].str.contains("nature_casse")]
    assert len(upper_case) > 0 and upper_case["nature"].eq("Marché").all()
    assert marches["code_cpv"].str.fullmatch(r"(\d{8})?").all()


def test_modifications_are_applied(published):
    _, _, tables = published
    marches = tables["marches"]
    modified = marches[marches["nb_modifications"].astype(int) > 0]
    assert len(modified) > 10
    changed = modified[modified["montant"] != modified["montant_initial"]]
    assert len(changed) > 0


def test_concessions_are_kept_apart(published):
    _, _, tables = published
    assert len(tables["concessions"]) >= 1
    assert not set(tables["concessions"]["uid"]) & set(tables["marches"]["uid"])


def test_whole_real_tree_runs_and_lists_unreadable_files(real_data, tmp_path):
    summary = pipeline.run_from_files([real_data], tmp_path / "out")
    rejets = pd.read_csv(tmp_path / "out/data/rejets.csv", dtype=str, keep_default_na=False)
    file_level = rejets[rejets["position"] == ""]
    names = set(file_level["fichier"].map(lambda p: Path(p).name))
    assert "format-commande-publique__schema_decp_v2.0.3.json" in names
    assert "format-commande-publique__schema_decp_v2.0.2.xsd" in names
    assert set(file_level["motif"]) <= {"format_non_reconnu", "json_invalide", "xml_invalide", "csv_invalide"}
    marches = pd.read_csv(tmp_path / "out/data/marches.csv", dtype=str, keep_default_na=False)
    assert {"decp-2019-csv-aplati", "decp-tabulaire-csv", "decp-2024-xml", "decp-2019-xml"} <= set(
        marches["format_source"])
    assert summary.marches == len(marches)
