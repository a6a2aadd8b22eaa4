"""data/qualite.csv: every record read is accounted for, per file, and the decp-qualite indicators are right."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import pandas as pd
import pytest

from pipelines import pipeline
from pipelines.quality_report import quality_table
from pipelines.tables import conform


@pytest.fixture(scope="module")
def published(real_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("pub") / "published"
    pipeline.run_from_files([real_data], out)
    return {name: pd.read_csv(out / "data" / f"{name}.csv", dtype=str, keep_default_na=False)
            for name in ("qualite", "rejets", "marches", "avis", "concessions")}


def _kept(rows: list[dict]) -> pd.DataFrame:
    """Consolidated contracts as quality_table takes them: the marches columns, with where each was read."""
    frame = conform(pd.DataFrame(rows).assign(nb_titulaires=[len(r["_titulaires"]) for r in rows]), "marches")
    return frame.assign(_chemin=[r["_chemin"] for r in rows])


def _wide(qualite: pd.DataFrame) -> pd.DataFrame:
    return (qualite.assign(valeur=qualite["valeur"].astype(int))
            .pivot_table(index=["source", "fichier"], columns="indicateur", values="valeur", aggfunc="sum")
            .fillna(0).astype(int))


def test_every_record_read_is_kept_merged_or_rejected_per_file(published):
    wide = _wide(published["qualite"])
    files = wide.drop(index="*", level="fichier")
    assert len(files) >= 60
    balance = files["lus"] - files["gardes"] - files["fusionnes"] - files["rejetes"]
    assert (balance == 0).all(), balance[balance != 0]
    # Kept rows are the published rows; rejected ones are the record-level rows of rejets.csv, reason by reason.
    assert files["gardes"].sum() == len(published["marches"]) + len(published["concessions"]) + len(published["avis"])
    rejets = published["rejets"]
    per_record = rejets[rejets["position"] != ""]
    for (fichier, motif), count in per_record.groupby(["fichier", "motif"]).size().items():
        source = files.xs(fichier, level="fichier")
        assert int(source[f"rejetes_{motif}"].iloc[0]) == count, (fichier, motif)
    whole_files = rejets[rejets["position"] == ""]
    assert int(files["fichier_rejete"].sum()) == len(whole_files)


def test_source_totals_sum_their_files(published):
    wide = _wide(published["qualite"])
    for source in wide.index.get_level_values("source").unique():
        part = wide.xs(source, level="source")
        for indicator in ("lus", "gardes", "fusionnes", "rejetes", "montants_hors_plage"):
            assert part.loc["*", indicator] == part.drop(index="*")[indicator].sum(), (source, indicator)


def test_decp_qualite_indicators_on_built_records():
    today = dt.date(2026, 11, 26)
    base = {"_chemin": "f.json", "objet": "x", "code_cpv": "45000000", "procedure": "p", "nature": "Marché",
            "montant": 1000.0, "date_notification": "2025-01-10", "date_publication_donnees": "2025-01-20",
            "duree_mois": 12, "lieu_execution_code": "75", "_titulaires": [("1", "SIRET", "A")]}
    rows = [
        base,
        base | {"montant": 150.0},  # below 200 €
        base | {"montant": 2e9, "objet": ""},  # above 999 999 999 €, objet missing
        base | {"date_publication_donnees": "2025-01-01"},  # published before notification
        base | {"date_publication_donnees": "2025-04-30"},  # 110 days later
        base | {"date_notification": "2027-01-01", "date_publication_donnees": "2027-01-05", "_titulaires": []},
    ]
    fichiers = [{"fichier": "f.json", "format_source": "decp-2024-json", "lus": 7, "marches": 7}]
    rejets = [{"fichier": "f.json", "position": 7, "motif": "identifiant_manquant"}]
    table = quality_table(fichiers, _kept(rows), Counter(), [], [], [], rejets, today)
    values = table[table["fichier"] == "f.json"].set_index("indicateur")["valeur"]
    assert (values["lus"], values["gardes"], values["fusionnes"], values["rejetes"]) == (7, 6, 0, 1)
    assert values["rejetes_identifiant_manquant"] == 1
    assert values["montants_hors_plage"] == 2
    assert values["publication_avant_notification"] == 1
    assert values["publication_plus_62_jours"] == 1
    assert values["dates_futures"] == 1
    assert values["manquant_objet"] == 1 and values["manquant_titulaires_ids"] == 1
    assert json.loads(table.to_json(orient="records"))  # plain values only


def test_merged_republications_are_counted_for_the_file_they_came_from():
    rows = [{"_chemin": "b.json", "date_notification": "2025-01-01", "_titulaires": []}]
    fichiers = [{"fichier": "a.json", "format_source": "decp-2024-json", "lus": 2},
                {"fichier": "b.json", "format_source": "decp-2024-json", "lus": 1}]
    table = quality_table(fichiers, _kept(rows), Counter({"a.json": 2}), [], [], [], [], dt.date(2026, 1, 1))
    values = table.set_index(["fichier", "indicateur"])["valeur"]
    assert values[("a.json", "fusionnes")] == 2 and values[("a.json", "gardes")] == 0
    assert values[("b.json", "gardes")] == 1 and values[("*", "fusionnes")] == 2
