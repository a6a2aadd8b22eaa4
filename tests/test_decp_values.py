import datetime as dt

import pytest

from pipelines.decp.values import parse_amount, parse_bool, parse_cpv, parse_date, parse_identifier, parse_int
from pipelines.decp.vocabulary import normalize_location_type, normalize_nature, normalize_procedure

TODAY = dt.date(2026, 11, 26)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (55600, (55600.0, None)),
        ("30000.00", (30000.0, "montant_texte")),
        ("30 000,50", (30000.5, "montant_texte")),
        ("1.234.567,89", (1234567.89, "montant_texte")),
        ("NC", (None, None)),
        (None, (None, None)),
        (0, (None, "montant_invalide")),
        (-5, (None, "montant_invalide")),
        ("abc", (None, "montant_invalide")),
        (float("nan"), (None, None)),
        (1.0e17, (None, "montant_aberrant")),
        (True, (None, "montant_invalide")),
    ],
)
def test_parse_amount(raw, expected):
    assert parse_amount(raw) == expected


def test_zero_amount_allowed_where_meaningful():
    assert parse_amount(0, allow_zero=True) == (0.0, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(36, (36, None)), ("36", (36, "nombre_texte")), (2.0, (2, None)), (2.2, (3, None)), ("NC", (None, None)),
     ("douze", (None, "nombre_invalide")), (-1, (None, "nombre_invalide"))],
)
def test_parse_int(raw, expected):
    assert parse_int(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(True, True), (False, False), ("oui", True), ("non", False), ("1", True), ("0", False), (1, True),
     ("true", True), ("NC", None), (None, None), ("", None)],
)
def test_parse_bool(raw, expected):
    assert parse_bool(raw)[0] is expected


def test_parse_bool_flags_garbage():
    assert parse_bool("peut-être") == (None, "booleen_invalide")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-06-29", (dt.date(2024, 6, 29), None)),
        ("2019-01-01+01:00", (dt.date(2019, 1, 1), "date_avec_heure_ou_fuseau")),
        ("2021-12-11T00:00:00", (dt.date(2021, 12, 11), "date_avec_heure_ou_fuseau")),
        ("11/12/2021", (dt.date(2021, 12, 11), "date_format_fr")),
        ("0002-05-01", (None, "date_implausible")),
        ("5021-05-01", (None, "date_implausible")),
        ("2024-02-30", (None, "date_invalide")),
        ("demain", (None, "date_invalide")),
        ("nan", (None, None)),
    ],
)
def test_parse_date(raw, expected):
    assert parse_date(raw, TODAY) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("45000000-7", ("45000000", None)), ("45421000", ("45421000", None)), ("4542100", (None, "cpv_invalide")),
     ("45 421 000", ("45421000", "cpv_reformate")), (None, (None, None))],
)
def test_parse_cpv(raw, expected):
    assert parse_cpv(raw) == expected


def test_identifiers_lose_spaces_and_spreadsheet_floats():
    assert parse_identifier("215 901 638 00019") == "21590163800019"
    assert parse_identifier(21590163800019.0) == "21590163800019"
    assert parse_identifier("") is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Procédure adaptée", ("Procédure adaptée", None)),
        ("Appel d offres ouvert", ("Appel d'offres ouvert", "procedure_libelle_ancien")),
        ("Appel d’offres ouvert", ("Appel d'offres ouvert", "procedure_libelle_ancien")),
        ("PROCEDURE ADAPTEE", ("Procédure adaptée", "procedure_libelle_ancien")),
        ("Procédure négociée avec mise en concurrence préalable", ("Procédure avec négociation",
                                                                  "procedure_libelle_ancien")),
        ("Marché public négocié sans publicité ni mise en concurrence préalable",
         ("Marché passé sans publicité ni mise en concurrence préalable", "procedure_libelle_ancien")),
        ("Procédure négociée ouverte", (None, "procedure_inconnue")),
    ],
)
def test_procedure_vocabulary(raw, expected):
    assert normalize_procedure(raw) == expected


def test_nature_2019_values_move_to_techniques():
    assert normalize_nature("ACCORD-CADRE") == ("Marché", "Accord-cadre", "nature_2019")
    assert normalize_nature("Marché subséquent") == ("Marché", None, "nature_2019")
    assert normalize_nature("MARCHE") == ("Marché", None, "nature_casse")
    assert normalize_nature("Marché de partenariat") == ("Marché de partenariat", None, None)


def test_location_type_typos():
    assert normalize_location_type("Code Postal") == ("Code postal", "type_code_lieu_casse")
    assert normalize_location_type("CODE DEPARTEMENT") == ("Code département", "type_code_lieu_casse")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Forfaitaire", ("Forfaitaire", None, None)),
        ("UNITAIRE", ("Unitaire", None, "forme_prix_casse")),
        ("Ferme", (None, "Définitif ferme", "forme_prix_2019")),
        ("Ferme et actualisable", (None, "Définitif actualisable", "forme_prix_2019")),
        ("Révisable", (None, "Définitif révisable", "forme_prix_2019")),
        ("Au doigt mouillé", (None, None, "forme_prix_inconnue")),
    ],
)
def test_price_form_2019_moves_to_price_types(raw, expected):
    from pipelines.decp.vocabulary import normalize_price_form

    assert normalize_price_form(raw) == expected


def test_absurd_numbers_are_dropped_not_fatal():
    assert parse_int(1e30) == (None, "nombre_aberrant")
    assert parse_int("9" * 400) == (None, "nombre_aberrant")
    assert parse_amount(10**400) == (None, "montant_aberrant")
    assert parse_amount("1" + "0" * 400) == (None, "montant_aberrant")
    assert parse_amount(1e10) == (None, "montant_aberrant")
    assert parse_amount(9_999_999_999.99) == (9_999_999_999.99, None)


def test_amount_rounding_to_zero_is_invalid():
    assert parse_amount(0.004) == (None, "montant_invalide")
    assert parse_amount(0.005) == (0.01, None)


def test_dates_end_one_year_after_today():
    assert parse_date("2027-11-26", TODAY)[0] == dt.date(2027, 11, 26)
    assert parse_date("2027-12-20", TODAY) == (None, "date_implausible")
