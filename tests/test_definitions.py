"""Dagster: the code location loads, and the whole job materialises the shipped sample into a valid publication."""

import dagster as dg
import pandas as pd
from frictionless import validate

from pipelines.defs.resources import DecpInputs, PublicationTarget, RawStore
from pipelines.settings import sample_files


def test_definitions_load():
    from pipelines.definitions import defs

    repository = defs.get_repository_def()
    keys = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}
    assert {"raw_boamp", "raw_ted", "raw_decp", "entrees", "marches_normalises", "marches", "titulaires",
            "concessions", "avis", "indicateurs", "references", "rejets", "qualite", "publication"} <= keys
    assert defs.resolve_job_def("publier_decp") is not None
    # BOAMP/TED on a daily schedule, DECP on its sensor, the rest by automation conditions.
    assert {s.name for s in defs.schedules} == {"collecte_quotidienne_schedule"}
    assert {s.name for s in defs.sensors} == {"decp_nouveau_fichier", "fraicheur_des_sources", "automatisation",
                                              "alerte_echec"}
    assert {key.asset_key.to_user_string() for key in repository.asset_graph.asset_check_keys
            if key.name == "freshness_check"} == {"raw_boamp", "raw_ted", "raw_decp", "publication"}
    check_names = {key.name for key in repository.asset_graph.asset_check_keys}
    assert {"schema_marches", "regles_metier_marches", "schema_indicateurs", "schema_rejets"} <= check_names


def test_materialize_whole_pipeline(tmp_path):
    from pipelines.defs import assets, checks

    out = tmp_path / "published"
    result = dg.materialize(
        [*dg.load_assets_from_modules([assets]), *checks.SCHEMA_CHECKS, checks.regles_metier_marches],
        resources={"decp_inputs": DecpInputs(paths=[str(p) for p in sample_files()]),
                   "raw_store": RawStore(root=str(tmp_path / "raw")),
                   "publication_target": PublicationTarget(out_dir=str(out))},
        selection=assets.PIPELINE,
    )
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(e.passed for e in evaluations)
    marches = result.output_for_node("marches")
    materialization = next(m for m in result.get_asset_materialization_events()
                           if m.asset_key == dg.AssetKey("marches"))
    metadata = materialization.materialization.metadata
    assert metadata["dagster/row_count"].value == len(marches)
    assert [c.name for c in metadata["dagster/column_schema"].schema.columns][:3] == ["uid", "id", "acheteur_id"]
    assert validate(out / "datapackage.json").valid
    assert len(pd.read_csv(out / "data/marches.csv")) == len(marches)
    publication = next(m for m in result.get_asset_materialization_events()
                       if m.asset_key == dg.AssetKey("publication")).materialization.metadata
    assert publication["rapport"].value == str((out / "index.html").resolve()) and (out / "index.html").is_file()
    assert "part_montant" in publication["apercu_indicateurs"].value
