"""Tests of the innovation classifier (pipelines.classify): rules table, boundaries, contract, real samples."""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pandas as pd
import pytest

from pipelines.classify import RULES_VERSION, SIGNALS, THRESHOLD
from pipelines.classify.rules import classify
from pipelines.classify import keywords
from pipelines.classify.rules import score_codes
from pipelines.classify.signals import ORDER


def one(objet: object = "Travaux de voirie", **columns: object) -> pd.Series:
    """Classify a single record and return its output row."""
    record = {"objet": [objet], **{name: [value] for name, value in columns.items()}}
    return classify(pd.DataFrame(record)).iloc[0]


# --- objet text: (objet, expected innovant, expected innovation_signaux) ---------------------------------

TEXT_CASES = [
    # Strong legal / procedural phrases decide alone.
    ("Partenariat d'innovation pour un drone de surveillance", True, "texte_fort"),
    ("PARTENARIAT D’INNOVATION – capteurs connectés des réseaux d'eau", True, "texte_fort"),
    ("Partenariat d innovation relatif à un système de tri", True, "texte_fort"),
    ("Achat innovant : plateforme de covoiturage domicile-travail", True, "texte_fort"),
    ("Achats publics innovants - télérelève des compteurs", True, "texte_fort"),
    ("Acquisition d'une solution innovante de détection des fuites", True, "texte_fort"),
    ("Marché innovant de gestion des mobilités", True, "texte_fort"),
    ("Marché passé sur le fondement de l'article R. 2122-9-1 du code de la commande publique", True, "texte_fort"),
    ("Marché conclu en application de l'article R2122-9-1 (logiciel)", True, "texte_fort"),
    ("Services nouveaux ou sensiblement améliorés au sens de l'article L. 2172-3", True, "texte_fort"),
    ("Achat public avant commercialisation : navette autonome", True, "texte_fort"),
    ("Achat pré-commercial de services de R&D en cybersécurité", True, "texte_fort|texte_moyen"),
    ("Expérimentation au titre du décret n° 2018-1225 du 24 décembre 2018", True, "texte_fort|texte_moyen"),
    ("Fonds innovation achats : capteurs de qualité de l'air", True, "texte_fort"),
    ("Innovation partnership for an autonomous inspection drone", True, "texte_fort"),
    ("Pre-commercial procurement of flood forecasting services", True, "texte_fort"),
    # R&D deliverables decide alone.
    ("Fabrication d'un prototype de générateur à double excitation", True, "texte_prototype"),
    ("Réalisation d'un démonstrateur technologique de stockage d'hydrogène", True, "texte_prototype"),
    ("Preuve de concept (POC) d'un outil de tri des courriers", True, "texte_prototype"),
    ("Développement d'un capteur jusqu'au TRL 6", True, "texte_prototype"),
    # Medium vocabulary: alone below the threshold, two corroborating signals above it.
    # v2: an objet that *is* an experimentation decides alone; the word in a context stays a medium word.
    ("Expérimentation d'un algorithme d'intelligence artificielle", True, "texte_experimentation|texte_ia"),
    ("Expérimentation d'un dispositif innovant de téléconsultation", True, "texte_experimentation|texte_moyen"),
    ("Dispositif innovant de téléconsultation en expérimentation", True, "texte_moyen|texte_moyen_cumul"),
    ("Conception de salles innovantes pour l'université", False, "texte_moyen"),
    ("Expérimentation d'une navette fluviale", True, "texte_experimentation"),
    ("Bilan de l'expérimentation d'une navette fluviale", False, "texte_moyen"),
    ("Formation dans le cadre de l'expérimentation PAERPA", False, "texte_moyen"),
    ("Évaluation des programmes expérimentaux régionaux", False, "texte_moyen"),
    ("Le marché a pour objet de tester sur deux territoires une méthode de concertation", True,
     "texte_experimentation"),
    ("Conception et expérimentation d'un module de formation", True, "texte_experimentation"),
    ("Conception, réalisation et installation d'un banc de mesure des vibrations", True, "texte_conception"),
    ("Conception et réalisation d'outils de communication", False, ""),
    ("Développement d'un modèle de prédiction des crues", False, "texte_rd_livrable"),
    ("Acquisition d'une machine de gravure et de prototypage", False, "texte_moyen"),
    ("Prestations de R&D sur les matériaux composites", False, "texte_moyen"),
    ("Recherche et développement sur les batteries", False, "texte_moyen"),
    ("Accompagnement de start-up du numérique", False, "texte_moyen"),
    ("Étude sur l'IA générative dans les services publics", False, "texte_ia"),
    # "pilote" counts only as a pilot project / phase / site.
    ("Projet pilote de collecte des biodéchets", False, "texte_moyen"),
    ("Phase pilote d'un service de transport à la demande", False, "texte_moyen"),
    ("Formation des pilotes d'hélicoptère de la sécurité civile", False, ""),
    ("Pilotage des opérations de maintenance", False, ""),
    ("Acquisition d'un pilote hydrométallurgique", False, ""),
    ("Mission d'ordonnancement, pilotage et coordination (OPC)", False, ""),
    # False-positive guards: names, places, events, boilerplate, themes.
    ("Fourniture de papier pour le Centre de recherche de Saclay", False, ""),
    ("Travaux de rénovation du bâtiment Innovation", False, "garde_faux_positif"),
    ("Nettoyage des locaux de la Direction de l'innovation", False, "garde_faux_positif"),
    ("Maintenance des équipements de l'Agence de l'innovation de défense", False, "garde_faux_positif"),
    ("Entretien des espaces verts du Pôle Innovation", False, "garde_faux_positif"),
    ("Centre de recherche et d'innovation : fourniture de gaz", False, "garde_faux_positif"),
    ("Campus de l'innovation - gardiennage", False, "garde_faux_positif"),
    ("Maison de l'innovation : mobilier de bureau", False, "garde_faux_positif"),
    ("Organisation des Trophées de l'innovation 2024", False, "garde_faux_positif"),
    ("Prestations liées à l'organisation de la Conférence R&D Management 2019", False, "garde_faux_positif"),
    ("Laboratoire de R&D : fourniture de consommables", False, "garde_faux_positif"),
    ("Mobilier ; le caractère innovant de l'offre sera apprécié", False, "garde_faux_positif"),
    ("Les variantes sont autorisées afin de permettre des solutions innovantes", False, "garde_faux_positif"),
    ("Assistance à la concertation, maîtrise d'usage et innovation sociale", False, "garde_faux_positif"),
    ("Formation-action à la conduite de projet et à l’innovation managériale", False, "garde_faux_positif"),
    ("ministère de lenseignement supérieur, de la recherche et de linnovation.", False, "garde_faux_positif"),
    ("Production de médicaments de thérapie innovante (MTI)", False, "garde_faux_positif"),
    ("Bâtiment destiné à la recherche et à l'expérimentation pour l'élevage - Lot 3 gros œuvre", False,
     "garde_faux_positif"),
    ("Appareil de mesure pour expérimentation animale", False, "garde_faux_positif"),
    ("Rénovation d'une zone d'expérimentation de rongeurs", False, "garde_faux_positif"),
    ("Aménagement de plateaux pour l’accueil de startup", False, "garde_faux_positif"),
    ("Accompagnement des projets du Territoire d'innovation", False, "garde_faux_positif"),
    ("Formation des acheteurs aux achats innovants", False, "garde_faux_positif"),
    ("Centre de recherche et d'innovation : fabrication d'un prototype", True, "texte_prototype|garde_faux_positif"),
    ("Centre hospitalier de Rouen : partenariat d'innovation pour un robot", True, "texte_fort"),
    ("Direction des achats - achat innovant de capteurs", True, "texte_fort"),
    # Mundane works and near-miss words.
    ("CONSTRUCTION DE 28 LOGEMENTS COLLECTIFS: Lot 9 : PEINTURE", False, ""),
    ("Travaux de rénovation de la toiture de l'école", False, ""),
    ("Recrutement d'un cadre supérieur expérimenté", False, ""),
    ("Formation des IA-IPR de l'académie", False, ""),
    ("Conception et réalisation d'un site internet", False, ""),
    ("Transport via la rocade nord", False, ""),
    # Accents, case, apostrophes, encodings.
    ("EXPERIMENTATION D'UN ALGORITHME D'INTELLIGENCE ARTIFICIELLE", True, "texte_experimentation|texte_ia"),
    ("expérimentation d’un algorithme d‘intelligence artificielle", True, "texte_experimentation|texte_ia"),
    ("dexpérimentation dun algorithme dintelligence artificielle", True, "texte_moyen|texte_ia"),
    ("R\ufffdalisation d'un d\ufffdmonstrateur", True, "texte_prototype"),
    ("Re\u0301alisation d'un De\u0301monstrateur", True, "texte_prototype"),
    ("Prestations de R&amp;D", False, "texte_moyen"),
    ("Preuve de\u00a0concept d'un outil de tri", True, "texte_prototype"),
    ("Outil de tri_IA", False, "texte_ia"),
    ("Maîtrise d\\'oeuvre : partenariat d\\'innovation", True, "texte_fort"),
    ("", False, ""),
    (None, False, ""),
]


@pytest.mark.parametrize(("objet", "innovant", "signaux"), TEXT_CASES)
def test_objet_text_rules(objet, innovant, signaux):
    row = one(objet)
    assert row["innovation_signaux"] == signaux
    assert bool(row["innovant"]) == innovant


def test_text_table_in_one_frame_matches_row_by_row():
    # Vectorised path: the whole table at once gives the same answers as one row at a time.
    objets = [case[0] for case in TEXT_CASES]
    out = classify(pd.DataFrame({"objet": objets}))
    assert out["innovation_signaux"].tolist() == [case[2] for case in TEXT_CASES]
    assert out["innovant"].tolist() == [case[1] for case in TEXT_CASES]


@pytest.mark.parametrize("objet", [case[0] for case in TEXT_CASES if case[0]])
def test_prefilter_keeps_every_text_the_scan_needs(objet):
    if keywords.scan(keywords.normalise(objet)):
        assert keywords.search_raw(pd.Series([objet]), keywords.PREFILTER)[0]
        normalised = pd.Series([keywords.normalise(objet)])
        assert keywords._search(keywords._arrow(normalised), keywords.CANDIDATES, ignore_case=False)[0]


def test_candidates_pattern_is_scan_without_its_lookarounds():
    assert keywords.CANDIDATES is not None  # SCAN uses nothing RE2 reads otherwise: the filter is on
    assert "(?!" not in keywords.CANDIDATES and "(?<" not in keywords.CANDIDATES.replace("(?P<", "")
    tricky = r"a(?![a-z(])b[(?!x)]c\(?!d(?<=e(f)[)])g[]()]h(?<!\))i"
    assert keywords.without_lookarounds(tricky) == r"ab[(?!x)]c\(?!dg[]()]hi"
    with pytest.raises(ValueError, match="non fermé"):
        keywords.without_lookarounds("a(?!b(c)")
    assert keywords._candidates_pattern(r"(?<![a-z0-9])\d+(?![a-z0-9])") is None  # \d: Unicode in re, ASCII in RE2


def test_normalise():
    assert keywords.normalise("  L’Expérimentation\u00a0 des  ACHATS\n") == "l'experimentation des achats"
    assert keywords.normalise("Œuvre – cœur") == "oeuvre - coeur"
    assert keywords.normalise(None) == ""
    assert keywords.normalise(12) == ""


def test_folding_changes_exactly_the_characters_of_its_table():
    """The search that folds characters gives what str.translate gives with the same table, for every character
    of the Basic Multilingual Plane and the others the table lists, alone and between letters."""
    characters = [chr(cp) for cp in range(0x10000) if not 0xD800 <= cp <= 0xDFFF]
    characters += [chr(cp) for cp in keywords._FOLD if cp > 0xFFFF] + ["\U0001f600"]
    text = "a".join(characters)
    assert keywords._FOLDED.sub(keywords._fold_one, text) == text.translate(keywords._FOLD)
    assert keywords._FOLDED.sub(keywords._fold_one, "Réaménagement d’un\u00a0lycée") == "Reamenagement d'un lycee"


# --- structured signals ------------------------------------------------------------------------------------

STRUCTURED_STRONG = [
    "procedure_partenariat_innovation",
    "eforms_inn_pur",
    "eforms_mar_nov",
    "eforms_proc_innov",
    "eforms_prod_innov",
    "eforms_rd_act",
    "eforms_innov_ancien",
]


@pytest.mark.parametrize("code", STRUCTURED_STRONG)
def test_each_structured_innovation_code_decides_alone(code):
    row = one("Fourniture de mobilier", structured_signals=code)
    assert row["innovant"]
    assert row["innovation_signaux"] == code
    assert row["innovation_score"] == SIGNALS[code][1]


def test_structured_signals_are_trimmed_sorted_deduplicated_and_combined():
    row = one("Partenariat d'innovation : drone", structured_signals=" eforms_mar_nov | texte_fort||eforms_inn_pur ")
    assert row["innovation_signaux"] == "eforms_inn_pur|eforms_mar_nov|texte_fort"
    assert row["innovation_score"] == round(1 - 0.1 * 0.1 * 0.2, 3)


def test_structured_weak_code_needs_corroboration():
    assert not one("Fourniture de réactifs", structured_signals="attribution_directe_rd")["innovant"]
    assert one("Expérimentation de réactifs", structured_signals="attribution_directe_rd")["innovant"]


def test_unknown_structured_code_is_ignored_with_a_warning():
    with pytest.warns(UserWarning, match="pas_un_code"):
        row = one("Fourniture de mobilier", structured_signals="pas_un_code|eforms_inn_pur")
    assert row["innovation_signaux"] == "eforms_inn_pur"


def test_missing_structured_values_are_no_signal():
    out = classify(pd.DataFrame({"objet": ["a", "b", "c"], "structured_signals": [None, np.nan, ""]}))
    assert out["innovation_signaux"].tolist() == ["", "", ""]


# --- declared flag (DECP 2024 marcheInnovant) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("objet", "columns", "innovant", "signaux"),
    [
        ("Accessibilité de la mairie : Lot 8 : PEINTURES", {}, False, "declare_innovant"),
        ("Éclairage public adaptatif en expérimentation", {}, True, "declare_innovant|texte_moyen"),
        ("Études géotechniques", {"code_cpv": "73100000-3"}, True, "declare_innovant|cpv_rd"),
        ("Logiciel de gestion", {"procedure": "Marché passé sans publicité ni mise en concurrence préalable",
                                 "montant": 60000.0, "date_notification": "2024-03-01"}, True,
         "declare_innovant|r2122_9_1"),
        ("Étude sur l'intelligence artificielle", {}, True, "declare_innovant|texte_ia"),
    ],
)
def test_declared_true_needs_one_corroborating_signal(objet, columns, innovant, signaux):
    row = one(objet, marche_innovant_declare=True, **columns)
    assert bool(row["innovant"]) == innovant
    assert row["innovation_signaux"] == signaux


def test_declared_false_does_not_lower_the_score_and_is_shown_only_when_overridden():
    overridden = one("Partenariat d'innovation : capteurs", marche_innovant_declare=False)
    assert overridden["innovant"]
    assert overridden["innovation_signaux"] == "texte_fort|declare_non_innovant"
    assert overridden["innovation_score"] == SIGNALS["texte_fort"][1]
    agreed = one("Bilan de l'expérimentation d'une navette", marche_innovant_declare=False)
    assert not agreed["innovant"]
    assert agreed["innovation_signaux"] == "texte_moyen"


@pytest.mark.parametrize(
    "values",
    [
        pd.array([True, False, None], dtype="boolean"),
        pd.Series([True, False, None], dtype=object),
        pd.Series(["true", "non", ""], dtype="str"),
        pd.Series(["oui", "false", None], dtype=object),
    ],
)
def test_declared_flag_accepts_boolean_and_textual_columns(values):
    df = pd.DataFrame({"objet": ["Expérimentation"] * 3, "marche_innovant_declare": values})
    out = classify(df)
    assert out["innovation_signaux"].tolist() == ["declare_innovant|texte_moyen", "texte_moyen", "texte_moyen"]
    assert out["innovant"].tolist() == [True, False, False]


# --- R2122-9-1 legal pattern and CPV 73 -------------------------------------------------------------------

NO_PUBLICITY = "Marché passé sans publicité ni mise en concurrence préalable"


@pytest.mark.parametrize(
    ("procedure", "montant", "date", "fires"),
    [
        (NO_PUBLICITY, 50_000.0, "2018-12-25", True),
        (NO_PUBLICITY, 50_000.0, "2018-12-24", False),
        (NO_PUBLICITY, 99_999.0, "2024-01-01", True),
        (NO_PUBLICITY, 99_999.99, "2024-01-01", True),
        (NO_PUBLICITY, 100_000.0, "2024-01-01", False),
        (NO_PUBLICITY, 0.0, "2024-01-01", False),
        (NO_PUBLICITY, -5.0, "2024-01-01", False),
        (NO_PUBLICITY, np.nan, "2024-01-01", False),
        (NO_PUBLICITY, 50_000.0, None, False),
        (NO_PUBLICITY, 50_000.0, "pas une date", False),
        ("Marché public négocié sans publicité ni mise en concurrence préalable", 50_000.0, "2019-06-01", True),
        ("Procédure adaptée", 50_000.0, "2024-01-01", False),
        ("Procédure avec négociation", 50_000.0, "2024-01-01", False),
        (None, 50_000.0, "2024-01-01", False),
    ],
)
def test_r2122_9_1_boundaries(procedure, montant, date, fires):
    row = one("Logiciel de gestion", procedure=procedure, montant=montant, date_notification=date)
    assert row["innovation_signaux"] == ("r2122_9_1" if fires else "")
    assert not row["innovant"]  # weak alone


@pytest.mark.parametrize(
    "dates",
    [
        pd.Series(pd.to_datetime(["2018-12-24", "2018-12-25", None])),
        pd.Series(pd.to_datetime(["2018-12-24", "2018-12-25", None])).dt.tz_localize("Europe/Paris"),
        pd.Series([dt.date(2018, 12, 24), dt.date(2018, 12, 25), None], dtype=object),
        pd.Series(["2018-12-24T23:00:00+01:00", "2018-12-25+01:00", pd.NA], dtype=object),
    ],
)
def test_r2122_9_1_date_types(dates):
    df = pd.DataFrame({"objet": ["x"] * 3, "procedure": NO_PUBLICITY, "montant": 10_000.0, "date_notification": dates})
    assert classify(df)["innovation_signaux"].tolist() == ["", "r2122_9_1", ""]


def test_r2122_9_1_with_medium_text_is_innovant():
    row = one("Capteur de crue en expérimentation", procedure=NO_PUBLICITY, montant=80_000.0,
              date_notification="2022-05-01")
    assert row["innovant"]
    assert row["innovation_signaux"] == "texte_moyen|r2122_9_1"


@pytest.mark.parametrize(
    ("code", "fires"),
    [("73100000-3", True), ("73000000", True), ("73436000", True), ("73120000.0", True), (" 73111000 - 3", True),
     ("72244000", False), ("7310000", False), ("45000000", False), ("", False), (None, False), ("73", False)],
)
def test_cpv_division_73(code, fires):
    row = one("Études", code_cpv=code)
    assert row["innovation_signaux"] == ("cpv_rd" if fires else "")
    assert not row["innovant"]


def test_cpv_73_with_medium_or_ai_text_is_innovant_but_not_with_r2122_alone():
    assert one("Innovation dans les matériaux", code_cpv="73100000")["innovant"]
    assert one("Estimation des courants par apprentissage profond", code_cpv="73000000")["innovant"]
    row = one("Études", code_cpv="73000000", procedure=NO_PUBLICITY, montant=20_000.0, date_notification="2020-01-01")
    assert not row["innovant"]
    assert row["innovation_signaux"] == "cpv_rd|r2122_9_1"


# --- output contract --------------------------------------------------------------------------------------


@pytest.fixture
def mixed() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "objet": ["Partenariat d'innovation", None, "PEINTURE", "Expérimentation IA", "Pôle innovation"],
            "code_cpv": ["73100000-3", None, "45442100", "", "73000000"],
            "procedure": [NO_PUBLICITY, None, "Procédure adaptée", NO_PUBLICITY, None],
            "montant": [50_000.0, np.nan, 20_000.0, 99_000.0, 1e6],
            "date_notification": ["2024-01-10", None, "2024-02-01", "2019-01-01", "2024-01-01"],
            "marche_innovant_declare": pd.array([False, None, True, True, None], dtype="boolean"),
            "nature": ["Marché"] * 5,
            "structured_signals": ["eforms_rd_act", None, "", "", None],
        },
        index=pd.Index(["k1", "k2", "k2", "k9", "k0"], name="uid"),
    )


def test_output_contract(mixed):
    before = mixed.copy()
    out = classify(mixed)
    pd.testing.assert_frame_equal(mixed, before)  # input untouched
    assert out.index.equals(mixed.index)
    assert list(out.columns) == ["innovant", "innovation_score", "innovation_signaux"]
    assert out["innovant"].dtype == np.dtype(bool)
    assert out["innovation_score"].dtype == np.dtype("float64")
    assert pd.api.types.is_string_dtype(out["innovation_signaux"].dtype)
    assert out.notna().all().all()
    assert out["innovation_score"].between(0, 1).all()
    assert (out["innovation_score"] == out["innovation_score"].round(3)).all()
    assert (out["innovant"] == (out["innovation_score"] >= THRESHOLD)).all()
    rank = {code: i for i, code in enumerate(ORDER)}
    for signaux, score in zip(out["innovation_signaux"], out["innovation_score"]):
        codes = signaux.split("|") if signaux else []
        assert all(code in SIGNALS for code in codes)
        assert re.fullmatch(r"(?:[a-z0-9_]+(?:\|[a-z0-9_]+)*)?", signaux)
        assert codes == sorted(codes, key=rank.__getitem__)
        assert len(set(codes)) == len(codes)
        assert score == score_codes(codes)
    assert out["innovation_signaux"].tolist() == [
        "eforms_rd_act|texte_fort|cpv_rd|r2122_9_1|declare_non_innovant",
        "",
        "declare_innovant",
        "declare_innovant|texte_moyen|texte_ia|r2122_9_1",
        "cpv_rd|garde_faux_positif",
    ]


def test_deterministic_and_row_independent(mixed):
    out = classify(mixed)
    pd.testing.assert_frame_equal(out, classify(mixed))
    shuffled = mixed.iloc[[4, 2, 0, 3, 1]]
    pd.testing.assert_frame_equal(classify(shuffled), out.iloc[[4, 2, 0, 3, 1]])


def test_only_objet_is_needed_and_empty_frames_work():
    out = classify(pd.DataFrame({"objet": ["Prototype de drone", "Voirie"]}))
    assert out["innovant"].tolist() == [True, False]
    empty = classify(pd.DataFrame({"objet": pd.Series([], dtype="str")}))
    assert list(empty.columns) == ["innovant", "innovation_score", "innovation_signaux"]
    assert len(empty) == 0


def test_signal_catalogue():
    assert RULES_VERSION == "regles-v2"
    required = {
        "declare_innovant", "declare_non_innovant", "procedure_partenariat_innovation", "eforms_inn_pur",
        "eforms_mar_nov", "eforms_proc_innov", "eforms_prod_innov", "eforms_rd_act", "texte_fort",
        "texte_moyen", "texte_ia", "cpv_rd", "r2122_9_1", "garde_faux_positif",
    }
    assert required <= set(SIGNALS)
    for code, (meaning, weight) in SIGNALS.items():
        assert re.fullmatch(r"[a-z0-9_]+", code)
        assert meaning.strip()
        assert 0.0 <= weight < 1.0
    assert list(ORDER) == sorted(SIGNALS, key=lambda c: (-SIGNALS[c][1], c))
    # One strong signal decides alone; the declared flag does not.
    for code in ["texte_fort", "texte_prototype", *STRUCTURED_STRONG]:
        assert score_codes([code]) >= THRESHOLD
    for code in ["declare_innovant", "texte_moyen", "cpv_rd", "texte_ia", "r2122_9_1", "attribution_directe_rd"]:
        assert score_codes([code]) < THRESHOLD
        assert score_codes([code, "declare_innovant"]) >= THRESHOLD or code == "declare_innovant"


# --- real samples, read in place --------------------------------------------------------------------------

AIFE_CSV = "decp/decp2019-csv/eclaireur-public__out_decp-2019-10000.csv"
AIFE_COLUMNS = {"objet": "objet", "codeCPV": "code_cpv", "procedure": "procedure", "montant": "montant",
                "dateNotification": "date_notification", "nature": "nature"}


@pytest.fixture(scope="module")
def aife(real_data) -> pd.DataFrame:
    raw = pd.read_csv(real_data / AIFE_CSV, dtype=str, usecols=list(AIFE_COLUMNS))
    df = raw.rename(columns=AIFE_COLUMNS)
    return pd.concat([df, classify(df)], axis=1)


@pytest.fixture(scope="module")
def decp2024(real_data) -> pd.DataFrame:
    rows = []
    for path in sorted((real_data / "decp" / "decp2022-json").glob("*.json")):
        for m in json.loads(path.read_text(encoding="utf-8"))["marches"]["marche"]:
            rows.append({
                "objet": m.get("objet"), "code_cpv": m.get("codeCPV"), "procedure": m.get("procedure"),
                "montant": m.get("montant"), "date_notification": m.get("dateNotification"),
                "marche_innovant_declare": m.get("marcheInnovant"), "nature": m.get("nature"),
            })
    df = pd.DataFrame(rows)
    df["marche_innovant_declare"] = df["marche_innovant_declare"].astype("boolean")
    return pd.concat([df, classify(df)], axis=1)


def _rows(df: pd.DataFrame, pattern: str) -> pd.DataFrame:
    selected = df[df["objet"].fillna("").str.contains(pattern, case=False, regex=True)]
    assert len(selected), f"no real objet matches {pattern!r}: the sample changed"
    return selected


def test_real_aife_prototypes_are_innovant(aife):
    made = _rows(aife, r"\bprototype\b")
    assert made["innovant"].all()
    assert made["innovation_signaux"].str.contains("texte_prototype").all()
    tools = _rows(aife, r"prototypage")  # prototyping machines bought as lab tools
    assert not tools["innovant"].any()


def test_real_aife_false_positives_are_guarded(aife):
    guarded = [
        r"innovation sociale",
        r"th.rapie innovante",
        r"Mirecourt.*exp.rimentation|exp.rimentation.*Mirecourt",
        r"exp.rimentation animale",
        r"accueil de startup",
        r"Conf.rence R&D",
        r"recherche et (?:de )?l.?.?innovation",
    ]
    for pattern in guarded:
        rows = _rows(aife, pattern)
        assert not rows["innovant"].any(), pattern
        assert rows["innovation_signaux"].str.contains("garde_faux_positif").all(), pattern
    experienced = _rows(aife, r"exp.riment.\b")  # "cadre ... expérimenté" = experienced
    assert (experienced["innovation_signaux"] == "").all()


def test_real_aife_ambiguous_words_alone_are_not_enough(aife):
    assert not _rows(aife, r"salles innovantes")["innovant"].any()
    assert not _rows(aife, r"pilote")["innovant"].any()
    deep = _rows(aife, r"apprentissage profond")  # CPV 73 + AI: R&D in AI
    assert deep["innovant"].all()
    assert (deep["innovation_signaux"] == "cpv_rd|texte_ia").all()


def test_real_aife_shares(aife):
    share = aife["innovant"].mean()
    assert 0 < share < 0.01, share
    r2122 = aife["innovation_signaux"] == "r2122_9_1"
    assert r2122.sum() >= 50  # the legal pattern is common...
    assert not aife.loc[r2122, "innovant"].any()  # ...and never enough alone
    cpv73 = aife["code_cpv"].fillna("").str.match(r"73\d{6}$")
    assert (aife["innovation_signaux"].str.contains("cpv_rd") == cpv73).all()


def test_real_aife_prefilter_loses_nothing(aife):
    full = np.array([keywords.scan(keywords.normalise(x)) for x in aife["objet"]])
    assert (full == keywords.scan_series(aife["objet"])).all()
    assert (full != 0).sum() >= 50


def test_real_2024_declared_mundane_records_are_not_innovant(decp2024):
    declared = decp2024[decp2024["marche_innovant_declare"].fillna(False)]
    assert len(declared) >= 10
    assert declared["innovation_signaux"].str.contains("declare_innovant").all()
    alone = declared[declared["innovation_signaux"] == "declare_innovant"]
    assert len(alone) >= 10
    assert not alone["innovant"].any()
    assert (alone["innovation_score"] == SIGNALS["declare_innovant"][1]).all()
    paint = _rows(declared, r"PEINTURE")
    assert not paint["innovant"].any()
    assert not decp2024.loc[decp2024["marche_innovant_declare"].eq(False).fillna(False), "innovation_signaux"] \
        .str.contains("declare_non_innovant").any()
    assert decp2024["innovant"].mean() < 0.05


def _runs(text: str) -> list[str]:
    return re.findall("[a-z]+", keywords.normalise(text))


def test_letters_are_the_runs_of_the_normalised_text_for_every_character():
    """keywords.letters folds, removes and lowers each character as normalise does, from its UTF-8 bytes."""
    import pyarrow as pa

    codes = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF and (cp < 0x10000 or cp % 4099 == 0)]
    texts = [f"ab{chr(cp)}cd E{chr(cp)}{chr(cp)}f {chr(cp)}" for cp in codes if chr(cp) != "&"]
    letters = keywords.letters(pa.array(texts, type=pa.large_string())).to_pylist()
    wrong = [(text, got) for text, got in zip(texts, letters) if got.split() != _runs(text)]
    assert wrong == []
    assert set("".join(letters)) <= set("abcdefghijklmnopqrstuvwxyz ")


def test_letters_across_chunks_and_slices(monkeypatch):
    import pyarrow as pa

    texts = ["Réalisation d’un démonstrateur", "", "ŒUVRE\u00a0d'art – Ǆ", "caf\u0065\u0301 ﬁnal", "K\u212a", "",
             "x\U0001F600y", "plain ascii text"]
    whole = keywords.letters(pa.array(texts, type=pa.large_string())).to_pylist()
    monkeypatch.setattr(keywords, "LETTERS_CHUNK_TEXTS", 3)
    chunked = keywords.letters(pa.array(["avant"] + texts, type=pa.large_string()).slice(1)).to_pylist()
    assert chunked == whole
    assert [got.split() for got in whole] == [_runs(text) for text in texts]
    assert whole[3].split() == ["cafe", "final"] and whole[4].split() == ["kk"]


def test_scan_series_scans_each_distinct_text_once_with_the_same_verdicts(monkeypatch):
    # "Note de calcul" passes the raw prefilter (a stem of "codes de calcul") but holds no phrase: not scanned.
    texts = ["Partenariat d'innovation", None, "Nettoyage des locaux", "Partenariat d'innovation",
             "Centre d'innovation : travaux", "Prototype de drone", "Prototype de drone", "", "Note de calcul"] * 3
    expected = [keywords.scan(keywords.normalise(t)) if isinstance(t, str) else 0 for t in texts]
    scanned = []
    original = keywords.scan
    monkeypatch.setattr(keywords, "scan", lambda text: scanned.append(text) or original(text))
    assert keywords.scan_series(pd.Series(texts, dtype="str")).tolist() == expected
    assert len(scanned) == len(set(scanned)) == 3 and any(expected)
    assert keywords.search_raw(pd.Series(["Note de calcul"]), keywords.PREFILTER)[0]
