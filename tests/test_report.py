"""The report page (pipelines/report): French formatting, content on synthetic tables, robustness to missing data,
escaping of untrusted text, determinism, and a headless Chromium run (offline) that checks what a reader gets."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pandas as pd
import pytest

from pipelines.report import build_report
from pipelines.report.charts import axis_percent
from pipelines.report.formatting import (MISSING, NNBSP, format_bytes, format_date, format_euros, format_integer,
                                         format_number, format_percent, format_points, plural)

REPO_ROOT = Path(__file__).resolve().parents[1]
CREATED = dt.datetime(2026, 11, 26, 10, 30, tzinfo=dt.timezone.utc)
EVIL = "<script>alert(1)</script>"
SCOPE_SIZES = {"etat": 40, "etat_operateurs": 150, "etat_operateurs_hopitaux": 300, "tous_acheteurs": 1000}
SIRET = "11000001000011"


# --- Formatting helpers -----------------------------------------------------------------------------------------

def test_numbers_are_french():
    assert format_number(1234567.8, 1) == f"1{NNBSP}234{NNBSP}567,8"
    assert format_integer(14576) == f"14{NNBSP}576"
    assert format_number(-1234.5, 1) == f"\u22121{NNBSP}234,5"
    assert format_number(-0.04, 1) == "0,0"  # rounds to zero: no sign
    assert format_number(3.2, 1, signed=True) == "+3,2"
    for missing in (None, float("nan"), pd.NA, "", "abc"):
        assert format_number(missing) == MISSING


def test_percentages():
    assert format_percent(0.0031) == f"0,31{NNBSP}%"
    assert format_percent(0.02) == f"2{NNBSP}%"
    assert format_percent(0.125) == f"12,5{NNBSP}%"
    assert format_percent(0) == f"0{NNBSP}%"
    assert format_percent(0.933333, 1) == f"93,3{NNBSP}%"
    assert format_percent(0.000048) == f"<{NNBSP}0,01{NNBSP}%"  # tiny but not zero
    assert format_percent(None) == MISSING
    assert format_points(-0.0209) == f"\u22122,09{NNBSP}points"
    assert format_points(0.005) == f"+0,50{NNBSP}point"
    assert axis_percent(0.015) == f"1,5{NNBSP}%"
    assert axis_percent(0.02) == f"2{NNBSP}%"
    assert axis_percent(0.0) == f"0{NNBSP}%"


def test_money_sizes_dates():
    assert format_euros(2_700_000) == f"2,7{NNBSP}M€"
    assert format_euros(59_200) == f"59{NNBSP}200{NNBSP}€"
    assert format_euros(1_465_812_012.32) == f"1,5{NNBSP}Md€"
    assert format_euros(-51_096_724_818, signed=True) == f"\u221251,1{NNBSP}Md€"
    assert format_bytes(850) == f"850{NNBSP}o"
    assert format_bytes(17_567) == f"17,6{NNBSP}ko"
    assert format_bytes(7_017_215) == f"7,0{NNBSP}Mo"
    assert format_date(dt.date(2026, 11, 26)) == "26 novembre 2026"
    assert format_date(dt.datetime(2024, 3, 1, 23, 0)) == "1er mars 2024"
    assert format_date("2026-08-05") == "5 août 2026"
    assert plural(0, "marché", "marchés") == "0 marché"
    assert plural(1532, "marché", "marchés") == f"1{NNBSP}532 marchés"


# --- Synthetic publication --------------------------------------------------------------------------------------

def _share_row(year, scope, family, measure, numerator, denominator, contracts, target=0.02, coverage=1.0,
               breakdown="ensemble", modality="ensemble"):
    return {"annee": year, "perimetre": scope, "famille": family, "mesure": measure,
            "valeur": round(numerator / denominator, 6) if denominator else None, "numerateur": numerator,
            "denominateur": denominator, "unite": "euros" if "montant" in measure else "marches", "cible": target,
            "couverture": coverage, "nb_marches": contracts, "methode": "classification regles-texte-v2",
            "ventilation": breakdown, "modalite": modality}


def _breakdown_rows(year, scope, name, modalities):
    rows = []
    for modality, (innovative, contracts) in modalities.items():
        rows.append(_share_row(year, scope, "objet_innovant", "part_nombre", innovative, contracts, contracts,
                               breakdown=name, modality=modality))
        rows.append(_share_row(year, scope, "objet_innovant", "part_montant", innovative * 50_000.0,
                               contracts * 200_000.0, contracts, breakdown=name, modality=modality))
    return rows


def synthetic_indicators(supplier: str | None = "pme", years=(2021, 2022, 2023, 2024)) -> pd.DataFrame:
    rows = []
    for year in years:
        for index, (scope, size) in enumerate(SCOPE_SIZES.items()):
            amount = 10_000_000.0 * (index + 1)
            # The State in the last year: 1,25 % in amount, 2 contracts out of 40.
            montant = 125_000.0 if scope == "etat" and year == years[-1] else amount * 0.004 * (year - 2019)
            rows.append(_share_row(year, scope, "objet_innovant", "part_montant", montant, amount, size))
            rows.append(_share_row(year, scope, "objet_innovant", "part_nombre", 2 if scope == "etat" else 5,
                                   size, size, coverage=0.875))
            rows.append(_share_row(year, scope, "qualite_donnees", "montants_aberrants_exclus", 1, size, size,
                                   target=None))
            target = 0.04 if year >= 2023 else 0.02
            if supplier == "pme":
                rows.append(_share_row(year, scope, "fournisseur_innovant", "part_montant_pme", amount * 0.3, amount,
                                       size, target=target, coverage=0.6))
            elif supplier == "list":
                rows.append(_share_row(year, scope, "fournisseur_innovant", "part_montant", amount * 0.021, amount,
                                       size, target=target, coverage=0.6))
            elif supplier == "empty":
                rows.append(_share_row(year, scope, "fournisseur_innovant", "part_montant_pme", 0.0, 0.0, size,
                                       target=target, coverage=0.0))
    last = years[-1]
    rows += _breakdown_rows(last, "tous_acheteurs", "acheteur_categorie", {
        "etat": (2, 40), "operateur_etat": (1, 110), "hopital": (0, 150), "collectivite": (2, 600), "autre": (0, 100)})
    rows += _breakdown_rows(last, "tous_acheteurs", "departement",
                            {f"{d:02d}": (d % 3, 10 + d) for d in range(1, 20)} | {"non renseigne": (0, 500)})
    rows += _breakdown_rows(last, "tous_acheteurs", "division_cpv",
                            {code: (1, 20 + i) for i, code in enumerate(
                                ["03", "09", "15", "18", "22", "30", "32", "33", "34", "35", "38", "45", "48", "50",
                                 "71", "72", "73", "79"])})
    rows += _breakdown_rows(last, "tous_acheteurs", "procedure", {
        "Procédure adaptée": (3, 700), "Appel d'offres ouvert": (1, 250),
        "Marché passé sans publicité ni mise en concurrence préalable": (1, 50)})
    rows += _breakdown_rows(last, "etat_operateurs", "ministere", {
        "Armées": (1, 60), "Justice": (0, 20), EVIL: (1, 5), "Budget $x^2$ \\frac{": (0, 3), "non renseigne": (1, 62)})
    rows.append(_share_row(last, "tous_acheteurs", "objet_innovant", "part_montant", 100_000.0, 2_000_000.0, 10,
                           breakdown="acheteur", modality=SIRET))
    rows.append(_share_row(last, "tous_acheteurs", "objet_innovant", "part_nombre", 1, 10, 10,
                           breakdown="acheteur", modality=SIRET))
    return pd.DataFrame(rows)


def synthetic_tables(**options) -> dict[str, pd.DataFrame]:
    marches = pd.DataFrame({
        "uid": [f"{SIRET}A1", f"{SIRET}A2", "21590163800019B1"],
        "acheteur_id": [SIRET, SIRET, "21590163800019"],
        "acheteur_nom": [f"{EVIL} & Cie", f"{EVIL} & Cie", "Commune de Croix"],
        "objet": ['<img src=x onerror="alert(1)">Partenariat d\'innovation', "Papier", "Travaux"],
        "innovant": [True, False, False],
        "montant": [100_000.0, 50_000.0, 1_000_000.0],
    })
    references = pd.DataFrame([
        {"id": "cible_2020_pacte", "annee": 2020, "periode": "horizon 2020", "famille": "cible",
         "perimetre_officiel": "État, opérateurs et hôpitaux", "definition": "Cible : 2 % des achats",
         "valeur_officielle": 0.02, "unite": "part", "source": "Pacte national (2012)",
         "url": "https://www.senat.fr/rap/r15-082-1/r15-082-119.html", "fiabilite": "S",
         "perimetre_observatoire": "etat_operateurs_hopitaux", "mesure_observatoire": "objet_innovant/part_montant",
         "annee_observatoire": 2020, "valeur_observatoire": 0.0031, "ecart": -0.0169,
         "explication": "Écart à la cible."},
        {"id": "piege", "annee": 2023, "periode": "2023", "famille": "denominateur", "perimetre_officiel": "État",
         "definition": f"Montant {EVIL}", "valeur_officielle": 49_100_000_000.0, "unite": "euros",
         "source": "Source piégée", "url": "javascript:alert(1)", "fiabilite": "U", "perimetre_observatoire": None,
         "mesure_observatoire": None, "annee_observatoire": None, "valeur_observatoire": None, "ecart": None,
         "explication": "Non calculable."},
    ])
    return {"marches": marches, "indicateurs": synthetic_indicators(**options), "references": references}


def synthetic_card() -> dict:
    def measure(method, precision, recall, f1, scope="ensemble"):
        return {"methode": method, "perimetre": scope, "precision": precision, "rappel": recall, "f1": f1}
    return {
        "date": "2026-11-26", "version_methode": "regles-texte-v2",
        "validation": "validation croisée groupée et imbriquée, 5 plis × 3 répétitions",
        "jeu_etiquete": {"enregistrements": 1355, "positifs": 16},
        "hors_jeu": {"enregistrements": 7081, "ajoutes_par_v2": 0},
        "mesures": [measure("final", 0.9333, 0.875, 0.9032), measure("regles", 0.9333, 0.875, 0.9032),
                    measure("regles_v1", 0.8571, 0.375, 0.5217), measure("mots_cles", 0.1186, 0.4375, 0.1867),
                    measure("final", None, None, None, "source : BOAMP")],
    }


def write_publication(folder: Path, tables: dict[str, pd.DataFrame]) -> list[dict]:
    """Data files, schemas, the model card and a datapackage, as the publisher lays them out; their downloads."""
    downloads = []
    for name in ("marches", "indicateurs", "references"):
        path = folder / "data" / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        tables[name].to_csv(path, index=False, lineterminator="\n")
        schema = folder / "schemas" / f"{name}.json"
        schema.parent.mkdir(exist_ok=True)
        shutil.copyfile(REPO_ROOT / "schemas" / f"{name}.json", schema)
        downloads.append({"path": f"data/{name}.csv", "format": "csv", "table": name, "rows": len(tables[name]),
                          "bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                          "schema": f"schemas/{name}.json", "licence": "Licence Ouverte / Open Licence 2.0"})
    (folder / "methode").mkdir(exist_ok=True)
    (folder / "methode" / "carte-modele.json").write_text(json.dumps(synthetic_card()), encoding="utf-8")
    (folder / "methode" / "carte-modele.md").write_text("# Carte du modèle\n", encoding="utf-8")
    (folder / "datapackage.json").write_text(json.dumps({"name": "test"}), encoding="utf-8")
    return downloads


def build(folder: Path, **options) -> str:
    tables = synthetic_tables(**options)
    downloads = write_publication(folder, tables)
    return build_report(folder, tables, downloads, synthetic_card(), CREATED).read_text(encoding="utf-8")


def figures(page: str) -> dict[str, str]:
    """data-chart name -> the figure's markup, in page order."""
    pattern = r'<figure class="graphique" data-chart="([^"]+)".*?</figure>'
    return {m.group(1): m.group(0) for m in re.finditer(pattern, page, flags=re.S)}


# --- build_report on synthetic tables ---------------------------------------------------------------------------

def test_report_content_and_order(tmp_path):
    page = build(tmp_path)
    assert (tmp_path / "index.html").is_file()
    assert page.startswith("<!DOCTYPE html>") and '<html lang="fr">' in page
    assert "pas pu être produite" not in page  # no section fell back to its error sentence
    # Headline: the State in 2024, 1,25 % in amount, 5 % in number, the 2 % target, coverage, small-sample warning.
    headline = page[page.index('id="chiffre-cle"'):page.index('id="evolution"')]
    assert "marchés notifiés en 2024" in headline
    assert f'<span class="valeur">1,25{NNBSP}%</span>' in headline
    assert f'<span class="valeur">5{NNBSP}%</span>' in headline
    assert f'<span class="valeur">2{NNBSP}%</span><span class="libelle">cible</span>' in headline
    assert f"0,75{NNBSP}point sous la cible" in headline
    assert f"objet renseigné pour 87,5{NNBSP}%" in headline
    assert 'class="avertissement">Attention : seulement 40 marchés' in headline
    # Sections in the order of the issue.
    anchors = ["chiffre-cle", "evolution", "ventilations", "acheteurs", "methode", "chiffres-officiels",
               "telechargements"]
    positions = [page.index(f'<section id="{a}"') for a in anchors]
    assert positions == sorted(positions)
    assert "publication du 26 novembre 2026" in page


def test_charts_are_inline_responsive_svg_with_target(tmp_path):
    page = build(tmp_path)
    charts = figures(page)
    assert list(charts) == ["tendance-objet", "tendance-fournisseur", "ventilation-ministere",
                            "ventilation-acheteur_categorie", "ventilation-departement", "ventilation-division_cpv",
                            "ventilation-procedure"]
    for name, markup in charts.items():
        assert 'role="img"' in markup and 'aria-label="' in markup and "<figcaption>" in markup
        svg_tag = re.search(r"<svg\b[^>]*>", markup).group(0)
        assert 'width="100%"' in svg_tag and "viewBox=" in svg_tag and "height=" not in svg_tag
        assert re.search(r"<title id=\"g-[^\"]+\">[^<]+</title><desc id=\"g-[^\"]+\">[^<]+</desc>", markup)
        assert "<?xml" not in markup and "<!DOCTYPE" not in markup
        assert "#d55e00" in markup, f"{name}: no target line"  # the target's colour, dashed line in every chart
    assert "cible 2\u202f%" in charts["tendance-objet"]
    # Supplier family: upper bound said so, target 2 % then 4 % from 2023.
    assert "Borne haute" in charts["tendance-fournisseur"]
    assert "cible : 2\u202f% jusqu'en 2022, 4\u202f% à partir de 2023" in charts["tendance-fournisseur"]
    assert "borne haute</strong>" in page
    # Breakdowns: top 15 departments of 20, by number of contracts (the « non renseigné » 500 first).
    departments = charts["ventilation-departement"]
    assert "Départements (15 premiers par nombre de marchés)" in departments
    assert "15 catégories sur 20" in departments
    assert f"non renseigné : 0{NNBSP}% · 0 innovant sur 500" in departments
    assert "19 Corrèze" in departments and "01 Ain" not in departments  # 01 has the fewest contracts
    # ids are unique across the page although every SVG is drawn by matplotlib.
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))


def test_top_buyers_methodology_references_downloads(tmp_path):
    page = build(tmp_path)
    buyers = page[page.index('id="acheteurs"'):page.index('id="methode"')]
    assert f"<code>{SIRET}</code>" in buyers and f"100{NNBSP}000{NNBSP}€" in buyers and f"5{NNBSP}%" in buyers
    method = page[page.index('id="methode"'):page.index('id="chiffres-officiels"')]
    for text in ("L2172-3", "Deux sens de la cible", "montants attribués, pas des paiements", "concessions",
                 "README", f"93,3{NNBSP}%", f"52,2{NNBSP}%", f"18,7{NNBSP}%", "écrits en lisant les positifs",
                 '<a href="methode/carte-modele.md">'):
        assert text in method, text
    references = page[page.index('id="chiffres-officiels"'):page.index('id="telechargements"')]
    assert f"0,31{NNBSP}%" in references and f"\u22121,69{NNBSP}point" in references
    assert '<a href="https://www.senat.fr/rap/r15-082-1/r15-082-119.html" rel="noopener noreferrer">' in references
    assert "javascript:" not in page
    downloads = page[page.index('id="telechargements"'):]
    marches = tmp_path / "data" / "marches.csv"
    digest = hashlib.sha256(marches.read_bytes()).hexdigest()
    assert '<a href="data/marches.csv">data/marches.csv</a>' in downloads
    assert f'<code class="empreinte" title="{digest}">{digest[:12]}</code>' in downloads
    assert '<a href="schemas/marches.json">' in downloads and "Licence Ouverte / Open Licence 2.0" in downloads
    assert '<a href="datapackage.json">' in downloads


def test_untrusted_text_is_escaped(tmp_path):
    page = build(tmp_path)
    assert EVIL not in page and "<img" not in page and "onerror" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Cie" in page  # the buyer's name, shown escaped
    assert "Montant &lt;script&gt;" in page  # a reference's definition
    assert "<script" not in page.lower()  # no script at all
    # The ministry named like a script and one with mathtext are drawn (as paths) and described escaped.
    assert "&lt;script&gt;alert(1)&lt;/script&gt; : " in figures(page)["ventilation-ministere"]


def test_same_inputs_same_bytes(tmp_path):
    first = build(tmp_path / "a")
    assert build(tmp_path / "b") == first
    # Another interpreter, another hash seed: still the same bytes (no set or dict order leaks into the page).
    code = ("import sys; from pathlib import Path; from tests.test_report import build; "
            "sys.stdout.write(str(len(build(Path(sys.argv[1])))))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "c")], cwd=REPO_ROOT, env=env, check=True,
                   capture_output=True, timeout=300)
    assert (tmp_path / "c" / "index.html").read_text(encoding="utf-8") == first


def test_types_as_read_from_csv_give_the_same_page(tmp_path):
    """Tables read back as strings (a CSV with dtype=str) give the same page as typed ones."""
    tables = synthetic_tables()
    downloads = write_publication(tmp_path, tables)
    typed = build_report(tmp_path, tables, downloads, synthetic_card(), CREATED).read_bytes()
    as_text = {name: frame.astype(str) for name, frame in tables.items()}
    assert build_report(tmp_path, as_text, downloads, synthetic_card(), CREATED).read_bytes() == typed


# --- Missing data -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("tables", [{}, {"marches": pd.DataFrame(), "indicateurs": pd.DataFrame(),
                                         "references": pd.DataFrame()}])
def test_empty_publication_still_builds(tmp_path, tables):
    page = build_report(tmp_path, tables, [], None, CREATED).read_text(encoding="utf-8")
    assert "pas pu être produite" not in page
    assert 'class="graphique"' not in page
    for sentence in ("la part d'achats innovants de l'État ne peut pas être calculée",
                     "Aucune part « objet innovant » n'est calculable",
                     "Aucune année avec des marchés dans les données",
                     "Aucun acheteur n'a de marché décidé innovant",
                     "La carte du modèle n'est pas fournie",
                     "La table des chiffres officiels",
                     "Aucun fichier n'est listé",
                     "Aucun marché n'est publié"):
        assert sentence in page, sentence


def test_latest_year_without_state_contracts(tmp_path):
    tables = synthetic_tables()
    later = [_share_row(2025, "tous_acheteurs", "objet_innovant", measure, 0, 8, 8)
             for measure in ("part_nombre", "part_montant")]
    tables["indicateurs"] = pd.concat([tables["indicateurs"], pd.DataFrame(later)], ignore_index=True)
    page = build_report(tmp_path, tables, [], synthetic_card(), CREATED).read_text(encoding="utf-8")
    headline = page[page.index('id="chiffre-cle"'):page.index('id="evolution"')]
    assert "marchés notifiés en 2024" in headline and f"1,25{NNBSP}%" in headline
    assert "Aucun marché de l'État n'est notifié après 2024" in headline and "8 marchés en 2025" in headline


def test_state_absent_everywhere(tmp_path):
    tables = synthetic_tables()
    indicators = tables["indicateurs"]
    tables["indicateurs"] = indicators[indicators["perimetre"] != "etat"]
    page = build_report(tmp_path, tables, [], None, CREATED).read_text(encoding="utf-8")
    assert "la part d'achats innovants de l'État ne peut pas être calculée" in page
    assert "Ventilations 2024" in page  # breakdowns fall back to the latest year with data
    assert len(figures(page)) == 7


@pytest.mark.parametrize("supplier, expected", [
    (None, "aucune ligne de cette famille n'est publiée"),
    ("empty", "la taille des titulaires (SIRENE) n'est pas connue"),
    ("list", "Achats auprès de PME innovantes : part du montant attribué"),
])
def test_supplier_family_variants(tmp_path, supplier, expected):
    page = build(tmp_path, supplier=supplier)
    assert expected in page
    assert ("tendance-fournisseur" in figures(page)) == (supplier == "list")
    if supplier == "list":
        assert "Borne haute" not in page


def test_no_state_buyer_in_reference_year_uses_latest_buyers_year(tmp_path):
    tables = synthetic_tables()
    indicators = tables["indicateurs"]
    moved = indicators["ventilation"] == "acheteur"
    indicators.loc[moved, "annee"] = 2022
    page = build_report(tmp_path, tables, [], None, CREATED).read_text(encoding="utf-8")
    assert "En 2024, aucun acheteur n'a de marché décidé innovant" in page and "le tableau montre 2022" in page


# --- Headless Chromium, offline ---------------------------------------------------------------------------------

def _chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _run_chromium(binary: str, profile: Path, *arguments: str) -> subprocess.CompletedProcess:
    command = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
               f"--user-data-dir={profile}", *arguments]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def _sha256sums(folder: Path) -> dict[str, str]:
    """Write SHA256SUMS (sha256sum's format) for every file of the publication; return path -> digest."""
    sums = {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}
    (folder / "SHA256SUMS").write_text("".join(f"{d}  {p}\n" for p, d in sums.items()), encoding="utf-8")
    return sums


def _read_sums(path: Path) -> dict[str, str]:
    return {line[66:]: line[:64] for line in path.read_text(encoding="utf-8").splitlines() if line}


def test_page_in_headless_chromium(tmp_path):
    binary = _chromium()
    if binary is None:
        pytest.skip("no Chromium binary (/usr/bin/chromium, chromium or chromium-browser on PATH): "
                    "install Debian's chromium to run the browser test")
    lxml_html = pytest.importorskip("lxml.html")
    folder = tmp_path / "publication"
    tables = synthetic_tables()
    downloads = write_publication(folder, tables)
    _sha256sums(folder)
    index = build_report(folder, tables, downloads, synthetic_card(), CREATED)
    sums = _read_sums(folder / "SHA256SUMS")
    url = index.resolve().as_uri()

    dom = _run_chromium(binary, tmp_path / "profil-dom", "--dump-dom", url).stdout
    document = lxml_html.fromstring(dom)
    assert document.get("lang") == "fr"
    assert "1,25\u202f%" in document.text_content()

    # Every chart is an inline SVG with something drawn outside its <defs>.
    charts = document.xpath('//figure[contains(concat(" ", normalize-space(@class), " "), " graphique ")]')
    assert len(charts) >= 6
    for figure in charts:
        svg = figure.xpath(".//svg")
        assert len(svg) == 1, figure.get("data-chart")
        drawn = svg[0].xpath(".//*[self::path or self::rect or self::line or self::text][not(ancestor::defs)]")
        assert drawn, f"{figure.get('data-chart')}: empty SVG"
        assert figure.get("role") == "img" and figure.get("aria-label")
        assert figure.xpath("./figcaption")
    assert len({f.get("data-chart") for f in charts}) == len(charts)

    # Every relative link opens a file of the publication, the one SHA256SUMS describes.
    checked = 0
    for href in document.xpath("//a/@href"):
        parts = urlsplit(href)
        if parts.scheme in ("http", "https") or href.startswith("#"):
            continue
        assert not parts.scheme and not parts.netloc, f"unexpected link {href}"
        relative = unquote(parts.path)
        target = (folder / relative).resolve()
        assert target.is_file() and target.is_relative_to(folder.resolve()), href
        assert relative in sums, f"{relative} not in SHA256SUMS"
        assert hashlib.sha256(target.read_bytes()).hexdigest() == sums[relative], relative
        checked += 1
    assert checked >= 7  # three data files, three schemas, the datapackage (and the model card)

    # Nothing is fetched from the network: no script at all, no remote stylesheet, image, frame or object.
    assert not document.xpath("//script")
    for attribute in document.xpath("//link/@href | //img/@src | //script/@src | //iframe/@src | //object/@data"
                                    " | //source/@src | //use/@href"):
        assert not re.match(r"^(https?:)?//", attribute.strip()), attribute

    screenshot = tmp_path / "rapport.png"
    _run_chromium(binary, tmp_path / "profil-capture", f"--screenshot={screenshot}", "--window-size=1200,3000",
                  "--hide-scrollbars", url)
    assert screenshot.is_file()
    content = screenshot.read_bytes()
    assert content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) > 20_000
    copy_dir = os.environ.get("ACHATS_SCREENSHOT_DIR")
    if copy_dir:
        Path(copy_dir).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(screenshot, Path(copy_dir) / "rapport.png")
