"""Indicators and official figures: every published number recomputed the plain way from the published rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines import pipeline
from pipelines.indicators import SCOPES, amount_outlier, compute_indicators, cpv_division, departement
from pipelines.official_figures import notification_days, read_official

DECP_2019_CSV = "decp/decp2019-csv"
DECP_2024 = "decp/decp2022-json"


@pytest.fixture(scope="module")
def published(real_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("pub") / "published"
    pipeline.run_from_files([real_data / DECP_2019_CSV, real_data / DECP_2024], out)
    read = {name: pd.read_csv(out / "data" / f"{name}.csv", dtype=str, keep_default_na=False)
            for name in ("marches", "indicateurs", "references", "titulaires")}
    return read


def _recompute(marches: pd.DataFrame, year: int, scope: str) -> dict[str, tuple[float, float]]:
    """Numerator and denominator of the headline object measures, from the published marches.csv only."""
    categories = SCOPES[scope]
    rows = marches[marches["annee"] == str(year)]
    if categories is not None:
        rows = rows[rows["acheteur_categorie"].isin(categories)]
    amount = pd.to_numeric(rows["montant"], errors="coerce")
    amount = amount[(amount >= 200) & (amount <= 999_999_999)]
    innovative = rows["innovant"] == "true"
    declared_known = rows["marche_innovant_declare"] != ""
    declared = rows["marche_innovant_declare"] == "true"
    return {
        "part_nombre": (float(innovative.sum()), float(len(rows))),
        "part_montant": (round(float(amount[innovative.reindex(amount.index)].sum()), 2),
                         round(float(amount.sum()), 2)),
        "part_nombre_declare": (float(declared.sum()), float(declared_known.sum())),
    }


def test_every_headline_row_reconciles_with_marches(published):
    marches, indicateurs = published["marches"], published["indicateurs"]
    headline = indicateurs[(indicateurs["famille"] == "objet_innovant") & (indicateurs["ventilation"] == "ensemble")]
    combos = headline[["annee", "perimetre"]].drop_duplicates()
    assert len(combos) >= 8 and set(combos["perimetre"]) == set(SCOPES)
    checked = 0
    for year, scope in combos.itertuples(index=False):
        expected = _recompute(marches, int(year), scope)
        rows = headline[(headline["annee"] == year) & (headline["perimetre"] == scope)].set_index("mesure")
        for measure, (numerator, denominator) in expected.items():
            assert float(rows.loc[measure, "numerateur"]) == pytest.approx(numerator, abs=0.02), (year, scope, measure)
            assert float(rows.loc[measure, "denominateur"]) == pytest.approx(denominator, abs=0.02)
            if denominator:
                assert float(rows.loc[measure, "valeur"]) == pytest.approx(numerator / denominator, abs=1e-6)
            checked += 1
    assert checked >= 24


def test_scopes_are_nested_and_breakdowns_add_up(published):
    indicateurs = published["indicateurs"]
    counts = indicateurs[(indicateurs["mesure"] == "part_nombre") & (indicateurs["famille"] == "objet_innovant")
                         & (indicateurs["ventilation"] == "ensemble")]
    by_scope = counts.pivot(index="annee", columns="perimetre", values="denominateur").astype(float).fillna(0)
    order = ["etat", "etat_operateurs", "etat_operateurs_hopitaux", "tous_acheteurs"]
    for smaller, larger in zip(order, order[1:]):
        if smaller in by_scope and larger in by_scope:
            assert (by_scope[smaller] <= by_scope[larger]).all()
    # Each breakdown of a year and scope partitions its contracts: counts add up to the headline.
    parts = indicateurs[(indicateurs["mesure"] == "part_nombre") & (indicateurs["famille"] == "objet_innovant")]
    headline = parts[parts["ventilation"] == "ensemble"].set_index(["annee", "perimetre"])
    for dimension in ("acheteur_categorie", "ministere", "departement", "division_cpv", "procedure", "nature"):
        sums = parts[parts["ventilation"] == dimension].astype({"numerateur": float, "denominateur": float}) \
            .groupby(["annee", "perimetre"])[["numerateur", "denominateur"]].sum()
        joined = sums.join(headline[["numerateur", "denominateur"]].astype(float), rsuffix="_total")
        assert np.allclose(joined["denominateur"], joined["denominateur_total"]), dimension
        assert np.allclose(joined["numerateur"], joined["numerateur_total"]), dimension


def test_quality_panel_counts_outliers_and_missing_declarations(published):
    marches, indicateurs = published["marches"], published["indicateurs"]
    panel = indicateurs[(indicateurs["famille"] == "qualite_donnees") & (indicateurs["perimetre"] == "tous_acheteurs")]
    outliers = panel[panel["mesure"] == "montants_aberrants_exclus"].set_index("annee")["numerateur"].astype(float)
    flagged = marches[marches["montant_aberrant"] == "true"].groupby("annee").size()
    assert outliers.sum() == flagged.sum()
    for year, count in flagged.items():
        assert outliers[year] == count
    missing = panel[panel["mesure"] == "part_declare_manquant"].set_index("annee")
    year_2024 = marches[(marches["annee"] == "2024") & marches["format_source"].str.startswith("decp-2024")]
    assert float(missing.loc["2024", "denominateur"]) == len(year_2024)
    assert float(missing.loc["2024", "numerateur"]) == (year_2024["marche_innovant_declare"] == "").sum()


def test_top_buyers_are_ranked_by_innovative_amount(published):
    indicateurs = published["indicateurs"]
    top = indicateurs[(indicateurs["ventilation"] == "acheteur") & (indicateurs["mesure"] == "part_montant")]
    assert len(top) > 0
    for _, group in top.groupby(["annee", "perimetre"]):
        amounts = group["numerateur"].astype(float).tolist()
        assert all(a > 0 for a in amounts) and len(amounts) <= 20


def test_references_list_the_official_figures_with_sources(published):
    references = published["references"]
    official = read_official()
    assert set(references["id"]) == set(official["id"]) and len(references) >= 22
    assert references["url"].str.match(r"https?://").all()
    assert (references["explication"] != "").all()
    # The 2.4 % DAE baseline and the 2 % and 4 % targets are there with their values.
    values = references.set_index("id")["valeur_officielle"].astype(float)
    assert values["dae_2021_pme_innovantes"] == 0.024 and values["cible_2027_dae"] == 0.04
    assert values["cible_2020_pacte"] == 0.02
    # Where we give a value, the difference is ours minus the official one.
    given = references[references["valeur_observatoire"] != ""]
    assert len(given) >= 3
    for row in given.itertuples():
        assert float(row.ecart) == pytest.approx(float(row.valeur_observatoire) - float(row.valeur_officielle),
                                                 abs=0.01)


def test_amount_hygiene_and_departement_rules():
    amounts = pd.Series([199.99, 200.0, 999_999_999.0, 1e12, None, 50_000.0])
    assert amount_outlier(amounts).tolist() == [True, False, False, True, False, False]
    dept = departement(pd.Series(["27", "76000", "97411", "2A", "FR", None]),
                       pd.Series(["Code département", "Code postal", "Code postal", "Code département",
                                  "Code pays", None]))
    assert dept.tolist()[:4] == ["27", "76", "974", "2A"] and dept.isna().tolist()[4:] == [True, True]


def test_departement_of_distinct_pairs_is_that_of_every_row():
    """departement() judges each distinct (code, kind) pair once: the rows get what a row-by-row pass gives them."""
    from pipelines.indicators import _departement

    codes = ["27", " 76000", "97411", "2a", "FR", None, "2B", "975", "7500", "", "27", "97411", "13001", "971"]
    kinds = ["Code département", "Code postal", "Code postal", "Code département", "Code pays", None,
             "code DÉPARTEMENT", "Code département", "Code postal", "Code postal", "Code postal", None,
             "Code commune", "Code département"]
    rng = np.random.default_rng(3)
    picks = rng.integers(0, len(codes), 5_000)
    code = pd.Series([codes[i] for i in picks], dtype="string", index=np.arange(5_000) * 2)
    kind = pd.Series([kinds[i] for i in rng.permutation(picks)], dtype="string", index=code.index)
    found = departement(code, kind)
    pd.testing.assert_series_equal(found, _departement(code, kind))
    assert found.notna().sum() > 1_000 and found.isna().sum() > 100


def test_supplier_family_uses_sme_sizes_and_the_configured_list():
    marches = pd.DataFrame({
        "uid": ["a", "b", "c"], "annee": [2024, 2024, 2024], "acheteur_categorie": ["etat"] * 3,
        "acheteur_id": ["11000027000014"] * 3, "objet": ["x", "y", "z"], "montant": [1000.0, 3000.0, 6000.0],
        "innovant": [True, False, False], "marche_innovant_declare": [None, None, None], "code_cpv": ["73"] * 3,
        "procedure": ["p"] * 3, "nature": ["Marché"] * 3, "format_source": ["decp-2024-json"] * 3,
    })
    titulaires = pd.DataFrame({
        "uid": ["a", "b", "b", "c"], "titulaire_id": ["11111111100011", "22222222200022", "33333333300033",
                                                      "44444444400044"],
        "categorie_entreprise": ["PME", "PME", "GE", None],
    })
    out = compute_indicators(marches, titulaires, innovative_smes={"111111111"})
    rows = out[(out["famille"] == "fournisseur_innovant") & (out["perimetre"] == "etat")].set_index("mesure")
    # a: one SME (1000 €); b: one SME of two (half of 3000 €); c: size unknown, out of the denominator.
    assert float(rows.loc["part_montant_pme", "numerateur"]) == 2500.0
    assert float(rows.loc["part_montant_pme", "denominateur"]) == 4000.0
    assert float(rows.loc["part_nombre_pme", "numerateur"]) == 2.0
    assert float(rows.loc["part_montant", "numerateur"]) == 1000.0  # only a's supplier is on the list
    assert float(rows.loc["part_montant", "cible"]) == 0.04  # the 2027 line from 2023 on
    without_list = compute_indicators(marches, titulaires)
    assert "part_montant" not in set(without_list.loc[without_list["famille"] == "fournisseur_innovant", "mesure"])


def test_a_year_of_one_innovative_contract_ranks_its_buyer():
    """Top buyers of a scope and year with a single contract (pandas' get_group misses that only group)."""
    marches = pd.DataFrame({
        "uid": ["a", "b"], "annee": [2024, 2025], "acheteur_categorie": ["etat", "collectivite"],
        "acheteur_id": ["19000001800019", "21000002200017"], "objet": ["prototype", "x"], "montant": [5000.0, 900.0],
        "innovant": [True, False], "marche_innovant_declare": [None, None], "code_cpv": ["73"] * 2,
        "procedure": ["p"] * 2, "nature": ["Marché"] * 2, "format_source": ["decp-2024-json"] * 2,
    })
    out = compute_indicators(marches, None)
    top = out[(out["ventilation"] == "acheteur") & (out["perimetre"] == "etat") & (out["mesure"] == "part_montant")]
    assert top[["annee", "modalite", "numerateur", "nb_marches"]].values.tolist() == [[2024, "19000001800019",
                                                                                         5000.0, 1]]


def test_sirene_stock_when_present_decides_scope_and_supplier_size(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.settings import SAMPLE_DIR

    offline = pipeline.normalize(pipeline.ingest([SAMPLE_DIR]))
    assert set(offline.marches["acheteur_categorie_source"]) <= {"prefixe_siren", "reference", "inconnu"}
    assert offline.titulaires["categorie_entreprise"].isna().all()
    buyers = sorted({s[:9] for s in offline.marches["acheteur_id"].dropna() if str(s)[:9].isdigit()})
    suppliers = sorted({s[:9] for s in offline.titulaires["titulaire_id"].dropna() if str(s)[:9].isdigit()} - set(buyers))
    stock = tmp_path / "StockUniteLegale.parquet"
    pq.write_table(pa.table({
        "siren": buyers + suppliers,
        "categorieJuridiqueUniteLegale": ["7120"] * len(buyers) + ["5710"] * len(suppliers),
        "denominationUniteLegale": ["DIRECTION REGIONALE DES FINANCES PUBLIQUES"] * len(buyers) + ["SAS"] * len(suppliers),
        "categorieEntreprise": [None] * len(buyers) + ["PME"] * len(suppliers),
    }), stock)
    monkeypatch.setenv("ACHATS_SIRENE_PATH", str(stock))
    enriched = pipeline.normalize(pipeline.ingest([SAMPLE_DIR]))
    with_siren = enriched.marches["acheteur_id"].astype("string").str[:9].isin(buyers)
    assert (enriched.marches.loc[with_siren, "acheteur_categorie_source"] == "sirene").all()
    assert (enriched.marches.loc[with_siren, "acheteur_categorie"] == "etat").all()
    assert (enriched.marches.loc[with_siren, "ministere"] == "Économie et finances").all()
    sized = enriched.titulaires["titulaire_id"].astype("string").str[:9].isin(suppliers)
    assert (enriched.titulaires.loc[sized, "categorie_entreprise"] == "PME").all() and sized.any()
    marches = pipeline.classify_marches(enriched.marches)
    out = pipeline.indicators(marches, enriched.titulaires)
    pme = out[(out["famille"] == "fournisseur_innovant") & (out["mesure"] == "part_montant_pme")]
    assert len(pme) and (pme["couverture"].astype(float) > 0).any()


def test_cpv_division_is_the_regex_extraction():
    """The division read in Arrow for ASCII codes and by Python's re for the others is what pandas' str.extract of
    ``^\\s*(\\d{2})`` gives: ASCII separators, non-ASCII spaces and digits, short and missing codes included."""
    codes = ["45000000", " 30200000", "\x1c12345678", "\t\n09", "1", "", None, "abc", "\u0663\u0663123",
             "\u00a012", "12-3", "  7", "99"] + [f"{n:08d}" for n in range(0, 10**8, 99_991)]
    # Rows of a filtered table: the index is neither 0..n nor in order.
    series = pd.Series(codes, dtype="string", index=np.arange(len(codes))[::-1] * 3 + 7)
    divisions = cpv_division(series)
    pd.testing.assert_series_equal(divisions, series.str.extract(r"^\s*(\d{2})", expand=False))
    assert divisions.tolist()[:4] == ["45", "30", "12", "09"] and divisions.iloc[8] == "\u0663\u0663"


def test_supplier_facts_by_runs_of_sorted_uids_are_those_of_grouping_by_uid():
    """Suppliers sorted by uid (the titulaires table) are grouped by runs of neighbours: the facts are those a
    grouping by uid gives, missing sizes left out of the share of SMEs (a contract whose sizes are all unknown has
    none)."""
    from pipelines.indicators import _supplier_facts

    rng = np.random.default_rng(5)
    uids = np.sort(rng.choice([f"u{i:04d}" for i in range(300)], 2_000))
    suppliers = pd.DataFrame({
        "uid": pd.Series(uids, dtype="string"),
        "rang": pd.Series(np.arange(2_000), dtype="Int64"),
        "titulaire_id": pd.Series([f"{rng.integers(10**8, 10**9)}00012" for _ in range(2_000)], dtype="string"),
        "categorie_entreprise": pd.Series(rng.choice(["PME", "ETI", "GE", None], 2_000), dtype="string"),
    })
    suppliers.loc[suppliers["uid"] == uids[0], "categorie_entreprise"] = pd.NA
    frame = pd.DataFrame({"uid": pd.Series(sorted(set(uids))[::-1], dtype="string")})  # the contracts' rows
    listed = set(suppliers["titulaire_id"].str[:9].iloc[::5])
    for smes in (None, listed):
        by_runs = _supplier_facts(suppliers, smes, frame)
        by_uid = _supplier_facts(suppliers.sample(frac=1, random_state=2), smes, frame)
        pd.testing.assert_frame_equal(by_runs, by_uid)
        assert pd.isna(by_runs["pme"].iloc[0]) and by_runs["pme"].notna().sum() > 250
        assert 0 < by_runs["known"].sum() < len(by_runs)
        assert (frame["uid"].take(by_runs["ligne"]).to_numpy() == by_runs.index.to_numpy()).all()


def test_notification_days_of_a_date_column_are_those_of_its_text():
    """A datetime column is floored to the day; the same dates as text are read by their first ten characters:
    both give the same days (times dropped, missing values NaT)."""
    text = pd.Series(["2021-05-31", "2021-05-31 23:59:59", None, "2018-12-25", "pas une date", "2019-02-28 00:00:01"],
                     dtype="string")
    days = notification_days(text)
    typed = pd.to_datetime(text, errors="coerce", format="mixed").astype("datetime64[s]")
    assert typed.dtype.kind == "M" and typed.notna().sum() == 4
    assert notification_days(typed).tolist() == days.tolist()
    assert days.dt.strftime("%Y-%m-%d").tolist()[:2] == ["2021-05-31", "2021-05-31"]
