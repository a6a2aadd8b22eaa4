"""SIRENE enrichment: legal categories, offline fallback, ministries, stock lookup and download (no network)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from werkzeug import Response

from pipelines.sirene import buyer_scope, supplier_size
from pipelines.sirene import stock as sirene_stock
from pipelines.sirene.categories import BUYER_CATEGORIES, buyer_categories, buyer_category
from pipelines.sirene.fallback import load_reference
from pipelines.sirene.ministeres import ministry_of

AIFE_CSV = "decp/decp2019-csv/eclaireur-public__out_decp-2019-10000.csv"

# Fictitious SIRENs (999…, a range INSEE does not use for public bodies) so that only SIRENE can classify them.
STOCK_ROWS = [
    ("999000011", "7120", "MINISTERE DES ARMEES", None),
    ("999000029", "7383", "UNIVERSITE FICTIVE", None),
    ("999000037", "7364", "CENTRE HOSPITALIER FICTIF", None),
    ("213502388", "7210", "COMMUNE DE RENNES", None),
    ("999000045", "5710", "FOURNISSEUR PME", "PME"),
    ("999000052", "5710", "FOURNISSEUR ETI", "ETI"),
    ("999000060", "5599", "FOURNISSEUR GE", "GE"),
    ("999000078", "5710", "FOURNISSEUR SANS CATEGORIE", None),
    ("999000086", "7172", "SERVICE ADMINISTRATIF", None),
]


def _stock_table(rows=STOCK_ROWS) -> pa.Table:
    sirens, codes, names, sizes = zip(*rows)
    return pa.table({
        "siren": list(sirens),
        "categorieJuridiqueUniteLegale": list(codes),
        "denominationUniteLegale": list(names),
        "categorieEntreprise": list(sizes),
        # A column the lookup must not read.
        "activitePrincipaleUniteLegale": ["84.11Z"] * len(rows),
    })


@pytest.fixture
def stock(tmp_path) -> Path:
    path = tmp_path / "StockUniteLegale.parquet"
    pq.write_table(_stock_table(), path, row_group_size=2)
    return path


# --------------------------------------------------------------------------- legal categories

@pytest.mark.parametrize("code, expected", [
    ("7111", "etat"), ("7113", "etat"), ("7120", "etat"), ("7150", "etat"), ("7172", "etat"), ("7190", "etat"),
    ("7199", "etat"),  # unlisted 71xx code: still the State
    ("7382", "operateur_etat"), ("7383", "operateur_etat"), ("7384", "operateur_etat"),
    ("7385", "operateur_etat"), ("7389", "operateur_etat"), ("4110", "operateur_etat"),
    ("4120", "operateur_etat"), ("4130", "operateur_etat"), ("7450", "operateur_etat"),
    ("7364", "hopital"), ("7365", "hopital"), ("7470", "hopital"),
    ("7210", "collectivite"), ("7220", "collectivite"), ("7230", "collectivite"), ("7331", "collectivite"),
    ("7346", "collectivite"), ("7361", "collectivite"), ("7372", "collectivite"), ("7379", "collectivite"),
    ("7368", "collectivite"),  # unlisted code inside 7312–7379
    ("4140", "collectivite"), ("4150", "collectivite"),
    ("7381", "autre"), ("7410", "autre"), ("7490", "autre"), ("4160", "autre"), ("5710", "autre"),
    ("1000", "autre"), ("9220", "autre"), (None, "autre"), ("", "autre"), ("71", "autre"),
    (7120, "etat"), ("7364.0", "hopital"),  # integer or float columns in a Parquet file
])
def test_legal_category(code, expected):
    assert buyer_category(code) == expected


def test_buyer_categories_vectorised_keeps_index():
    codes = pd.Series(["7120", None, "7364", "7120"], index=["a", "b", "c", "d"])
    assert buyer_categories(codes).to_dict() == {"a": "etat", "b": "autre", "c": "hopital", "d": "etat"}


# --------------------------------------------------------------------------- offline fallback

@pytest.mark.parametrize("siret, category, source", [
    ("11000027000014", "etat", "prefixe_siren"),  # Conseil d'État
    ("13000190200373", "etat", "prefixe_siren"),
    ("18008901303894", "operateur_etat", "reference"),  # CNRS
    ("77572287900100", "operateur_etat", "reference"),  # ONERA: private-like numbering, only the table knows
    ("18201003300013", "operateur_etat", "prefixe_siren"),
    ("19511296600435", "operateur_etat", "prefixe_siren"),
    ("26690025700046", "hopital", "prefixe_siren"),
    ("21350238800019", "collectivite", "prefixe_siren"),  # Ville de Rennes
    ("39436007700025", "autre", "prefixe_siren"),  # a private supplier
])
def test_fallback_on_real_sirets(siret, category, source):
    row = buyer_scope(pd.Series([siret])).iloc[0]
    assert (row["acheteur_categorie"], row["acheteur_categorie_source"]) == (category, source)
    assert row["acheteur_nom_sirene"] is None


@pytest.mark.parametrize("siren, category", [
    ("110000270", "etat"), ("120000000", "etat"), ("150000000", "etat"), ("160000000", "etat"),
    ("170000000", "etat"), ("100000000", "autre"), ("140000000", "autre"), ("200000000", "collectivite"),
    ("220000000", "collectivite"), ("250000000", "collectivite"), ("270000000", "collectivite"),
    ("290000000", "collectivite"), ("300000000", "autre"), ("552100554", "autre"),
])
def test_fallback_prefix_rules(siren, category):
    assert buyer_scope(pd.Series([siren]))["acheteur_categorie"].iloc[0] == category


def test_invalid_identifiers_are_unknown_and_index_is_kept():
    ids = pd.Series([None, "", "FR43775685019", "12345", "00000000000000", " 213 502 388 00019 ",
                     "21350238800019"], index=[70, 71, 72, 73, 74, 75, 76])
    out = buyer_scope(ids)
    assert list(out.index) == [70, 71, 72, 73, 74, 75, 76]
    assert list(out.columns) == ["acheteur_categorie", "acheteur_categorie_source", "acheteur_nom_sirene",
                                 "ministere"]
    assert out["acheteur_categorie_source"].tolist() == ["inconnu"] * 5 + ["prefixe_siren"] * 2
    assert out["acheteur_categorie"].tolist() == ["autre"] * 5 + ["collectivite"] * 2


def test_reference_table_holds_the_national_operators():
    table = load_reference()
    esr, ecologie = "Enseignement supérieur et recherche", "Transition écologique"
    expected = {"775722879": "Armées", "385290309": ecologie, "390199669": ecologie, "775685019": ecologie,
                "775665912": esr, "330715368": esr, "180089013": esr, "180070039": "Agriculture", "180036048": esr,
                "180060030": ecologie}
    assert table["ministere"].to_dict() == expected
    assert set(table["categorie"]) == {"operateur_etat"}
    assert table["source"].str.len().min() > 10


def test_reference_table_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "reference.csv"
    bad.write_text("siren,nom,categorie,ministere,source\n"
                   "180089013,CNRS,operateur_etat,,SIREN public\n"
                   "18008901,Trop court,operateur_etat,,SIREN public\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"reference\.csv : ligne\(s\) 3 : SIREN de 9 chiffres"):
        load_reference(bad)
    no_column = tmp_path / "sans_source.csv"
    no_column.write_text("siren,nom,categorie,ministere\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"sans_source\.csv : colonnes manquantes .*source"):
        load_reference(no_column)


# --------------------------------------------------------------------------- ministries

@pytest.mark.parametrize("name, ministry", [
    ("Conseil d'État", "Conseil d'État (juridictions administratives)"),
    ("CONSEIL D ETAT", "Conseil d'État (juridictions administratives)"),
    ("Tribunal administratif de Paris", "Conseil d'État (juridictions administratives)"),
    ("Ministère des Armées", "Armées"),
    ("Service de santé des armées", "Armées"),
    ("Service d'infrastructure de la Défense - USID de Metz", "Armées"),
    ("DGA Techniques aéronautiques", "Armées"),
    ("Direction générale des Finances publiques", "Économie et finances"),
    ("Direction régionale des douanes de Lyon", "Économie et finances"),
    ("Préfecture de la Gironde", "Intérieur"),
    ("Région de gendarmerie de Bretagne", "Intérieur"),
    ("Rectorat de l'académie de Lille", "Éducation nationale"),
    ("Direction interrégionale des services pénitentiaires de Rennes", "Justice"),
    ("Cour d'appel de Douai", "Justice"),
    ("Ministère de l'Agriculture et de l'Alimentation", "Agriculture"),
    ("DRAAF Occitanie", "Agriculture"),
    ("DREAL Bretagne", "Transition écologique"),
    ("DIR Est", "Transition écologique"),
    ("Ministère de la Culture", "Culture"),
    ("DRAC Grand Est", "Culture"),
    ("ARS Île-de-France", "Santé"),
    ("DREETS Normandie", "Travail"),
    ("Ambassade de France au Japon", "Europe et affaires étrangères"),
    ("Ministère de l'Enseignement supérieur et de la Recherche", "Enseignement supérieur et recherche"),
    ("Services du Premier ministre", "Services du Premier ministre"),
    ("SGDSN", "Services du Premier ministre"),
    ("Direction départementale des territoires", None),
    ("Mars Inc.", None),  # "ars" only as a whole word
    ("", None), (None, None),
])
def test_ministry_rules(name, ministry):
    assert ministry_of(name) == ministry


def test_ministry_only_for_state_buyers_and_reference():
    ids = pd.Series(["11000027000014", "21350238800019", "77572287900100", "13000190200373"])
    names = pd.Series(["Conseil d'Etat", "Ville de Rennes - police municipale", "ONERA", "Établissement inconnu"])
    assert buyer_scope(ids, names)["ministere"].tolist() == [
        "Conseil d'État (juridictions administratives)", None, "Armées", None]


# --------------------------------------------------------------------------- real AIFE file

def test_aife_state_platform_is_mostly_state(real_data):
    path = real_data / AIFE_CSV
    if not path.is_file():
        pytest.skip(f"{path} absent (set ACHATS_REAL_DATA)")
    decp = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = buyer_scope(decp["acheteur.id"])
    state_prefix = decp["acheteur.id"].str.strip().str[:2].isin(["11", "12", "13"])
    assert state_prefix.sum() > 2000
    assert (out.loc[state_prefix, "acheteur_categorie"] == "etat").all()
    assert (out["acheteur_categorie_source"] != "inconnu").all()
    shares = out["acheteur_categorie"].value_counts(normalize=True)
    # Measured: État 32.9 %, opérateurs 17.2 %, hôpitaux 20.9 %, collectivités 15.3 %, autres 13.8 % of 8,286 rows.
    assert shares["etat"] + shares["operateur_etat"] > 0.5
    assert shares["etat"] + shares["operateur_etat"] + shares["hopital"] > 0.7
    assert shares.idxmax() == "etat"


# --------------------------------------------------------------------------- SIRENE stock

def test_lookup_reads_only_requested_sirens_and_columns(stock):
    found = sirene_stock.lookup(["999000011", "213502388", "123456789", "not-a-siren"], stock)
    assert sorted(found["siren"]) == ["213502388", "999000011"]
    assert list(found.columns) == list(sirene_stock.COLUMNS)
    assert found.set_index("siren").loc["999000011", "categorieJuridiqueUniteLegale"] == "7120"
    assert sirene_stock.lookup([], stock).empty


def test_lookup_accepts_integer_typed_stock(tmp_path):
    path = tmp_path / "int.parquet"
    pq.write_table(pa.table({"siren": pa.array([5520135, 999000011], pa.int64()),
                             "categorieJuridiqueUniteLegale": pa.array([5710, None], pa.int64()),
                             "denominationUniteLegale": ["SOCIETE", "MINISTERE"],
                             "categorieEntreprise": ["GE", None]}), path)
    found = sirene_stock.lookup(["005520135", "999000011"], path).set_index("siren")
    assert found.loc["005520135", "categorieJuridiqueUniteLegale"] == "5710"
    assert found.loc["999000011", "categorieJuridiqueUniteLegale"] is None


def test_lookup_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.parquet : stock SIRENE introuvable"):
        sirene_stock.lookup(["999000011"], tmp_path / "absent.parquet")
    not_parquet = tmp_path / "page.parquet"
    not_parquet.write_text("<html>erreur</html>")
    with pytest.raises(ValueError, match="page.parquet : stock SIRENE illisible"):
        sirene_stock.lookup(["999000011"], not_parquet)
    partial = tmp_path / "partiel.parquet"
    pq.write_table(pa.table({"siren": ["999000011"]}), partial)
    with pytest.raises(ValueError, match="partiel.parquet : colonnes absentes .*categorieJuridiqueUniteLegale"):
        sirene_stock.lookup(["999000011"], partial)


def test_buyer_scope_mixes_sirene_and_fallback(stock):
    ids = pd.Series(["99900001100017", "999000029", "99900003700011", "21350238800019", "99900004500010",
                     "77572287900100", "11000027000014", "99999999900019", None, "99900008600015"],
                    index=list("abcdefghij"))
    names = pd.Series(["Achats des armées", None, None, "Ville de Rennes", None, None, "Conseil d'État", None,
                       None, "Préfecture du Nord"], index=list("abcdefghij"))
    out = buyer_scope(ids, names, stock=stock)
    assert list(out.index) == list("abcdefghij")
    assert out["acheteur_categorie"].tolist() == [
        "etat", "operateur_etat", "hopital", "collectivite", "autre", "operateur_etat", "etat", "autre", "autre",
        "etat"]
    assert out["acheteur_categorie_source"].tolist() == [
        "sirene", "sirene", "sirene", "sirene", "sirene", "reference", "prefixe_siren", "prefixe_siren", "inconnu",
        "sirene"]
    assert out["acheteur_nom_sirene"].tolist() == [
        "MINISTERE DES ARMEES", "UNIVERSITE FICTIVE", "CENTRE HOSPITALIER FICTIF", "COMMUNE DE RENNES",
        "FOURNISSEUR PME", None, None, None, None, "SERVICE ADMINISTRATIF"]
    # SIRENE name first; the DECP name when the SIRENE name says nothing; none outside the State.
    assert out["ministere"].tolist() == [
        "Armées", None, None, None, None, "Armées", "Conseil d'État (juridictions administratives)", None, None,
        "Intérieur"]


def test_buyer_scope_without_stock_file_uses_the_fallback(tmp_path):
    out = buyer_scope(pd.Series(["99900001100017", "11000027000014"]), stock=tmp_path / "absent.parquet")
    assert out["acheteur_categorie_source"].tolist() == ["prefixe_siren", "prefixe_siren"]
    assert out["acheteur_categorie"].tolist() == ["autre", "etat"]


def test_supplier_size(stock):
    ids = pd.Series(["99900004500010", "999000052", "99900006000012", "99900007800014", "99999999900019",
                     "FR43775685019", "DE123456789", None, "99900004500028"], index=range(100, 109))
    out = supplier_size(ids, stock)
    assert list(out.index) == list(range(100, 109))
    assert out["categorie_entreprise"].tolist() == ["PME", "ETI", "GE", None, None, None, None, None, "PME"]
    assert out["categorie_entreprise_source"].tolist() == [
        "sirene", "sirene", "sirene", "inconnu", "inconnu", "inconnu", "inconnu", "inconnu", "sirene"]
    offline = supplier_size(ids)
    assert offline["categorie_entreprise"].isna().all()
    assert set(offline["categorie_entreprise_source"]) == {"inconnu"}


def test_outputs_use_known_categories(stock):
    ids = pd.Series([row[0] for row in STOCK_ROWS] + ["11000027000014", "26690025700046", None])
    assert set(buyer_scope(ids, stock=stock)["acheteur_categorie"]) <= set(BUYER_CATEGORIES)


# --------------------------------------------------------------------------- settings and download

def test_stock_settings(monkeypatch, tmp_path):
    monkeypatch.delenv("ACHATS_SIRENE_PATH", raising=False)
    monkeypatch.delenv("ACHATS_SIRENE_URL", raising=False)
    monkeypatch.delenv("ACHATS_SIRENE_MAX_BYTES", raising=False)
    assert sirene_stock.stock_path().parts[-3:] == ("data", "sirene", "StockUniteLegale.parquet")
    assert sirene_stock.stock_url().endswith("/StockUniteLegale_utf8.parquet")
    assert sirene_stock.stock_max_bytes() == 3 * 1024**3
    monkeypatch.setenv("ACHATS_SIRENE_PATH", str(tmp_path / "s.parquet"))
    monkeypatch.setenv("ACHATS_SIRENE_URL", "http://localhost/s.parquet")
    monkeypatch.setenv("ACHATS_SIRENE_MAX_BYTES", "1000")
    assert sirene_stock.stock_path() == tmp_path / "s.parquet"
    assert sirene_stock.stock_url() == "http://localhost/s.parquet"
    assert sirene_stock.stock_max_bytes() == 1000
    assert sirene_stock.available_stock() is None
    monkeypatch.setenv("ACHATS_SIRENE_MAX_BYTES", "3 Go")
    with pytest.raises(ValueError, match="ACHATS_SIRENE_MAX_BYTES='3 Go' : entier attendu"):
        sirene_stock.stock_max_bytes()


@pytest.fixture
def parquet_bytes(stock) -> bytes:
    return stock.read_bytes()


@pytest.fixture
def cached(tmp_path) -> Path:
    """A previous monthly stock already in the cache folder."""
    path = tmp_path / "cache" / "StockUniteLegale.parquet"
    path.parent.mkdir()
    pq.write_table(_stock_table(STOCK_ROWS[:1]), path)
    return path


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_download_success(httpserver, parquet_bytes, tmp_path):
    httpserver.expect_request("/StockUniteLegale_utf8.parquet").respond_with_data(
        parquet_bytes, content_type="application/octet-stream")
    target = tmp_path / "nouveau" / "StockUniteLegale.parquet"
    path = sirene_stock.download_stock(httpserver.url_for("/StockUniteLegale_utf8.parquet"), target,
                                       len(parquet_bytes))
    assert path == target and target.read_bytes() == parquet_bytes
    assert _leftovers(target.parent) == []
    assert len(sirene_stock.lookup(["999000045"], target)) == 1


def test_download_refused_by_announced_size_keeps_cache(httpserver, parquet_bytes, cached):
    before = cached.read_bytes()
    url = httpserver.url_for("/StockUniteLegale_utf8.parquet")
    httpserver.expect_request("/StockUniteLegale_utf8.parquet").respond_with_data(parquet_bytes)
    with pytest.raises(sirene_stock.SireneDownloadError) as error:
        sirene_stock.download_stock(url, cached, 100)
    assert url in str(error.value) and "limite de 100 octets" in str(error.value)
    assert cached.read_bytes() == before
    assert _leftovers(cached.parent) == []


def test_download_refused_by_streamed_size_keeps_cache(httpserver, parquet_bytes, cached):
    before = cached.read_bytes()
    url = httpserver.url_for("/StockUniteLegale_utf8.parquet")
    # A chunked answer announces no size: the limit must hold while streaming.
    httpserver.expect_request("/StockUniteLegale_utf8.parquet").respond_with_handler(
        lambda request: Response(iter([parquet_bytes[:200], parquet_bytes[200:]]), direct_passthrough=True))
    with pytest.raises(sirene_stock.SireneDownloadError, match="plus de 100 octets reçus") as error:
        sirene_stock.download_stock(url, cached, 100)
    assert url in str(error.value)
    assert cached.read_bytes() == before
    assert _leftovers(cached.parent) == []


def test_download_http_error_keeps_cache(httpserver, cached):
    before = cached.read_bytes()
    url = httpserver.url_for("/StockUniteLegale_utf8.parquet")
    httpserver.expect_request("/StockUniteLegale_utf8.parquet").respond_with_data("panne", status=500)
    with pytest.raises(sirene_stock.SireneDownloadError, match="HTTP 500") as error:
        sirene_stock.download_stock(url, cached, 10_000)
    assert url in str(error.value)
    assert cached.read_bytes() == before
    assert len(sirene_stock.lookup(["999000011"], cached)) == 1
    assert _leftovers(cached.parent) == []


def test_download_refuses_a_page_that_is_not_parquet(httpserver, cached):
    before = cached.read_bytes()
    httpserver.expect_request("/StockUniteLegale_utf8.parquet").respond_with_data(
        "<html>maintenance</html>", content_type="text/html")
    with pytest.raises(sirene_stock.SireneDownloadError, match="n'est pas un fichier Parquet"):
        sirene_stock.download_stock(httpserver.url_for("/StockUniteLegale_utf8.parquet"), cached, 10_000)
    assert cached.read_bytes() == before


def test_distinct_ids_in_arrow_are_those_pandas_factorises():
    """Arrow-backed ids (the run's columns) are encoded in Arrow: same codes, same distinct values, missing last."""
    import numpy as np

    from pipelines.sirene.enrich import _distinct

    values = ["13002526500013", None, "", "41931294406030", "13002526500013", None, "x 1"]
    arrow = pd.Series(values, dtype="string", index=[10, 11, 12, 13, 14, 15, 16])
    codes, distinct = _distinct(arrow)
    object_codes, object_distinct = _distinct(arrow.astype(object))
    assert codes.tolist() == object_codes.tolist() == [0, 4, 1, 2, 0, 4, 3]
    assert distinct.tolist() == object_distinct.tolist() == ["13002526500013", "", "41931294406030", "x 1", None]
    assert distinct.dtype == object and codes.dtype == np.intp
    sizes = supplier_size(arrow)
    assert sizes.index.tolist() == arrow.index.tolist()
    assert sizes["categorie_entreprise_source"].tolist() == ["inconnu"] * 7
