"""The business-rule suites of the published tables, as plain data (no Great Expectations import).

One suite per table of ``schemas.TABLES``. Each rule is one GX 1.x expectation (class name + keyword
arguments) with a severity, ``bloquant`` (a failure stops the publication) or ``avertissement`` (reported, the
publication goes on). Two origins:

- ``schema``: read from ``schemas/<table>.json``, the single source of truth: ``required`` → not null,
  ``enum`` → in set, ``pattern`` → regex (anchored: Table Schema patterns match the whole value),
  ``minimum``/``maximum`` → between, ``primaryKey``/``unique`` → unique. Always blocking: the same
  constraints make the Frictionless check fail, this suite finds them in memory, fast, before writing.
- ``metier``: what a schema cannot say (consistency between columns, across tables, plausibility).
  A rule between columns reads a *derived* column (prefix ``calcule_``) computed here in pandas, then checked
  by a native GX expectation (pair equality, A ≥ B, null, between); ``colonne`` names the published column
  the rule is about.

Cross-table rules (``contexte``: the other tables they read, e.g. titulaires → marches) are evaluated only
when those tables are given; otherwise they are reported as not evaluated.

``mostly`` (the share of non-null values that must pass) is 1.0 unless the rule says why it is less. Null
values are never counted by map expectations: required-ness is the ``required`` rules' job.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from .. import schemas
from ..decp.records import MAX_DURATION_MONTHS
from ..decp.values import MAX_PLAUSIBLE_AMOUNT

__all__ = [
    "AVERTISSEMENT",
    "BLOQUANT",
    "SEVERITES",
    "TABLES",
    "Rule",
    "prepare",
    "table_rules",
]

BLOQUANT = "bloquant"
AVERTISSEMENT = "avertissement"
SEVERITES = (BLOQUANT, AVERTISSEMENT)
TABLES: tuple[str, ...] = schemas.TABLES

DATE_MIN = date(2000, 1, 1)
YEAR_MIN = 2000
CONCESSION_DATE_MIN = date(1980, 1, 1)  # concessions run for decades: older signatures exist, rarely
MONTANT_MAX_PLAUSIBLE = MAX_PLAUSIBLE_AMOUNT  # 10 billion euros HT: above that, a unit error or a typo
DUREE_MOIS_MAX = MAX_DURATION_MONTHS  # 50 years
SIRET = r"^[0-9]{14}$"
# indicateurs.valeur is rounded to 6 decimals; numerateur and denominateur to the cent.
VALEUR_TOLERANCE = 1e-6
# A date cell that cannot be read as a date becomes this sentinel, so that it fails the range rule (and shows
# as 0001-01-01 in the unexpected values) instead of disappearing as a null.
_UNREADABLE_DATE = date.min

Memo = dict[str, Any]
Derivation = Callable[[pd.DataFrame, Mapping[str, pd.DataFrame], Memo], pd.Series]


@dataclass(frozen=True)
class Rule:
    """One expectation of a table's suite.

    ``expectation``: GX class name (``great_expectations.expectations.<name>``); ``kwargs``: its arguments
    (without description and meta); ``colonne``: the published column (or columns) the rule is about;
    ``derive``: derived column name → function(frame, context, memo) computing it; ``sources``: published
    columns the derivation reads; ``contexte``: other tables it needs."""

    id: str
    expectation: str
    kwargs: Mapping[str, Any]
    description: str
    colonne: str
    severite: str = BLOQUANT
    origine: str = "schema"
    derive: Mapping[str, Derivation] = dataclasses.field(default_factory=dict)
    sources: tuple[str, ...] = ()
    contexte: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.severite not in SEVERITES:
            raise ValueError(f"{self.id} : sévérité {self.severite!r} inconnue ({', '.join(SEVERITES)})")

    @property
    def gx_columns(self) -> list[str]:
        """The frame columns GX reads (published or derived)."""
        kw = self.kwargs
        found = [kw[k] for k in ("column", "column_A", "column_B") if k in kw]
        return found + list(kw.get("column_list", []))

    @property
    def meta(self) -> dict[str, str]:
        return {"severite": self.severite, "regle": self.id, "colonne": self.colonne, "origine": self.origine}


# --------------------------------------------------------------------------------------------------- schema


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def schema_rules(table: str) -> list[Rule]:
    """The constraints of ``schemas/<table>.json`` as expectations (all blocking)."""
    pk = schemas.primary_key(table)
    out: list[Rule] = []
    if len(pk) == 1:
        out.append(Rule(f"{table}.{pk[0]}.cle_primaire", "ExpectColumnValuesToBeUnique", {"column": pk[0]},
                        f"{pk[0]} unique (clé primaire)", pk[0]))
    elif pk:
        out.append(Rule(f"{table}.cle_primaire", "ExpectCompoundColumnsToBeUnique", {"column_list": list(pk)},
                        f"({', '.join(pk)}) unique (clé primaire)", ",".join(pk)))
    for field in schemas.fields(table):
        name, constraints = field["name"], field.get("constraints") or {}
        if constraints.get("required"):
            out.append(Rule(f"{table}.{name}.obligatoire", "ExpectColumnValuesToNotBeNull", {"column": name},
                            f"{name} toujours renseigné (obligatoire)", name))
        if constraints.get("unique") and pk != [name]:
            out.append(Rule(f"{table}.{name}.unique", "ExpectColumnValuesToBeUnique", {"column": name},
                            f"{name} unique", name))
        if "enum" in constraints:
            out.append(Rule(f"{table}.{name}.vocabulaire", "ExpectColumnValuesToBeInSet",
                            {"column": name, "value_set": list(constraints["enum"])},
                            f"{name} dans le vocabulaire du schéma", name))
        if "pattern" in constraints:
            out.append(Rule(f"{table}.{name}.motif", "ExpectColumnValuesToMatchRegex",
                            {"column": name, "regex": f"^(?:{constraints['pattern']})$"},
                            f"{name} conforme au motif du schéma {constraints['pattern']}", name))
        low, high = constraints.get("minimum"), constraints.get("maximum")
        if low is not None or high is not None:
            bounds = {k: v for k, v in (("min_value", low), ("max_value", high)) if v is not None}
            text = (f"entre {_number(low)} et {_number(high)}" if low is not None and high is not None
                    else f">= {_number(low)}" if low is not None else f"<= {_number(high)}")
            out.append(Rule(f"{table}.{name}.bornes", "ExpectColumnValuesToBeBetween", {"column": name, **bounds},
                            f"{name} {text}", name))
    return out


# ------------------------------------------------------------------------------------------ derived columns


def _to_date(value: Any) -> date | None:
    if isinstance(value, datetime):  # also pandas.Timestamp
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return _UNREADABLE_DATE
    return _UNREADABLE_DATE


def as_dates(series: pd.Series) -> pd.Series:
    """Any date-like column (ISO strings, datetime64 of any unit, date/Timestamp objects) as ``datetime.date``
    objects, so that GX compares it with ``date`` bounds; years beyond pandas' nanosecond range (2921) survive."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series.dt.date.astype(object).where(series.notna(), None)
    present = series[series.notna()]
    mapping = {value: _to_date(value) for value in pd.unique(present)}
    return series.map(mapping).astype(object).where(series.notna(), None)


def _year_of(column: str) -> Derivation:
    def derive(frame: pd.DataFrame, _context: Mapping[str, pd.DataFrame], _memo: Memo) -> pd.Series:
        series = frame[column]
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            return series.dt.year.astype("Int64")
        years = as_dates(series).map(lambda d: d.year if isinstance(d, date) else None)
        return pd.array(years.tolist(), dtype="Int64")

    return derive


def _concatenation(left: str, right: str) -> Derivation:
    def derive(frame: pd.DataFrame, _context: Mapping[str, pd.DataFrame], _memo: Memo) -> pd.Series:
        return frame[left].astype("string") + frame[right].astype("string")

    return derive


def _innovant_attendu(frame: pd.DataFrame, _context: Mapping[str, pd.DataFrame], _memo: Memo) -> pd.Series:
    from ..classify.signals import THRESHOLD  # the classifier's own threshold (score rounded to 3 decimals)

    score = pd.to_numeric(frame["innovation_score"], errors="coerce").astype("Float64")
    return score >= THRESHOLD


def _montant_hors_plage(frame: pd.DataFrame, _context: Mapping[str, pd.DataFrame], _memo: Memo) -> pd.Series:
    from ..indicators import amount_outlier  # [200 €, 999 999 999 €], the indicators' amount hygiene

    return amount_outlier(frame["montant"]).astype("boolean")


def _prefixe_id_avis(frame: pd.DataFrame, _context: Mapping[str, pd.DataFrame], _memo: Memo) -> pd.Series:
    return frame["id_avis"].astype("string").str.split(":", n=1).str[0]


def _dates(column: str) -> Derivation:
    def derive(frame: pd.DataFrame, _context: Mapping[str, pd.DataFrame], _memo: Memo) -> pd.Series:
        return as_dates(frame[column])

    return derive


def _siret_when_declared(frame: pd.DataFrame, _context: Mapping[str, pd.DataFrame], _memo: Memo) -> pd.Series:
    """titulaire_id where its declared identifier type is SIRET (spelt ``SIRET``, ``Siret``, ``['SIRET']``…)."""
    kind = frame["titulaire_type_identifiant"].astype("string").str.upper()
    declared = kind.str.contains("SIRET", na=False, regex=False)
    return frame["titulaire_id"].astype("string").where(declared.to_numpy(dtype=bool), pd.NA)


def _marches_lookup(frame: pd.DataFrame, context: Mapping[str, pd.DataFrame], memo: Memo) -> np.ndarray:
    """Position of each titulaires.uid in marches (-1: absent); computed once per validation."""
    if "positions" not in memo:
        marches = context["marches"].drop_duplicates("uid")
        memo["marches"] = marches
        memo["positions"] = pd.Index(marches["uid"].astype("string")).get_indexer(frame["uid"].astype("string"))
    return memo["positions"]


def _uid_absent_de_marches(frame: pd.DataFrame, context: Mapping[str, pd.DataFrame], memo: Memo) -> pd.Series:
    positions = _marches_lookup(frame, context, memo)
    uid = frame["uid"].astype("string")
    return uid.where((positions < 0) & uid.notna().to_numpy(dtype=bool), pd.NA)


def _nb_titulaires_du_marche(frame: pd.DataFrame, context: Mapping[str, pd.DataFrame], memo: Memo) -> pd.Series:
    positions = _marches_lookup(frame, context, memo)
    counts = pd.to_numeric(memo["marches"]["nb_titulaires"], errors="coerce").astype("Float64").to_numpy(
        dtype=float, na_value=np.nan)
    values = np.where(positions >= 0, counts[np.clip(positions, 0, None)] if len(counts) else np.nan, np.nan)
    return pd.Series(values, index=frame.index, dtype="Float64")


def _ecart_valeur_ratio(frame: pd.DataFrame, _context: Mapping[str, pd.DataFrame], _memo: Memo) -> pd.Series:
    """How far ``valeur`` lies from numerateur / denominateur, beyond the rounding of the published amounts.

    The ratio is computed before numerateur and denominateur are rounded to the cent, so for amounts (unite
    ``euros``) the true ratio lies in [(n - 0.005) / (d + 0.005), (n + 0.005) / (d - 0.005)]; counts are exact.
    The result is the distance from ``valeur`` to that interval (0 inside); infinite when ``valeur`` is missing
    although the denominator is positive, or present although it is not; null when both are missing."""
    n = pd.to_numeric(frame["numerateur"], errors="coerce").astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    d = pd.to_numeric(frame["denominateur"], errors="coerce").astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    v = pd.to_numeric(frame["valeur"], errors="coerce").astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    half = np.where(frame["unite"].astype("string").eq("euros").fillna(False).to_numpy(dtype=bool), 0.005, 0.0)
    positive = d > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.clip(n - half, 0, None) / (d + half)
        high = (n + half) / np.where(d - half > 0, d - half, np.nan)
        distance = np.fmax(0.0, np.fmax(low - v, v - high))
    out = np.where(positive, np.where(np.isnan(v), np.inf, distance), np.where(np.isnan(v), np.nan, np.inf))
    return pd.Series(out, index=frame.index, dtype="Float64")


def _unite_attendue(frame: pd.DataFrame, _context: Mapping[str, pd.DataFrame], _memo: Memo) -> pd.Series:
    mesure = frame["mesure"].astype("string")
    return mesure.str.startswith("part_montant").map({True: "euros", False: "marches"}).astype("string")


def _perimetre_englobant(column: str) -> Derivation:
    """For the ``ensemble`` rows: the value of ``column`` in the next wider scope (same year, family and
    measure). Scopes are nested in the order of the schema's ``perimetre`` enum (etat ⊂ etat_operateurs ⊂
    etat_operateurs_hopitaux ⊂ tous_acheteurs); a scope absent that year is skipped."""

    def derive(frame: pd.DataFrame, _context: Mapping[str, pd.DataFrame], _memo: Memo) -> pd.Series:
        order = next(f for f in schemas.fields("indicateurs") if f["name"] == "perimetre")["constraints"]["enum"]
        keys = ["annee", "famille", "mesure"]
        ensemble = (frame["ventilation"].astype("string").eq("ensemble")
                    & frame["modalite"].astype("string").eq("ensemble")).fillna(False).to_numpy(dtype=bool)
        rows = frame.loc[ensemble, [*keys, "perimetre", column]].copy()
        rows[column] = pd.to_numeric(rows[column], errors="coerce").astype("Float64")
        out = pd.Series(pd.NA, index=frame.index, dtype="Float64")
        if rows.empty:
            return out
        for key in keys + ["perimetre"]:
            rows[key] = rows[key].astype("string")
        table = rows.groupby(keys + ["perimetre"], dropna=False)[column].first().unstack("perimetre")
        table = table.reindex(columns=order).astype("float64")
        wider = table.shift(-1, axis=1).bfill(axis=1)
        stacked = wider.stack()  # pandas >= 3: missing cells are kept
        index = pd.MultiIndex.from_frame(rows[keys + ["perimetre"]])
        out.loc[rows.index] = stacked.reindex(index).to_numpy(dtype=float)
        return out

    return derive


def _ecart_hors_arrondi(frame: pd.DataFrame, _context: Mapping[str, pd.DataFrame], _memo: Memo) -> pd.Series:
    """|ecart − (valeur_observatoire − valeur_officielle)| beyond the published rounding (1e-6 for a share,
    rounded to 6 decimals; 0.01 otherwise, rounded to the cent), where both values are present; infinite when
    ``ecart`` is missing although both are present."""
    official = pd.to_numeric(frame["valeur_officielle"], errors="coerce").astype("Float64").to_numpy(
        dtype=float, na_value=np.nan)
    ours = pd.to_numeric(frame["valeur_observatoire"], errors="coerce").astype("Float64").to_numpy(
        dtype=float, na_value=np.nan)
    gap = pd.to_numeric(frame["ecart"], errors="coerce").astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    share = frame["unite"].astype("string").eq("part").fillna(False).to_numpy(dtype=bool)
    scale = np.fmax(1.0, np.fmax(np.abs(official), np.abs(ours)))
    slack = np.where(share, 1e-6, 0.01) + 1e-12 * scale  # + float rounding of large amounts
    both = ~np.isnan(official) & ~np.isnan(ours)
    excess = np.fmax(0.0, np.abs(gap - (ours - official)) - slack)
    out = np.where(both, np.where(np.isnan(gap), np.inf, excess), np.nan)
    return pd.Series(out, index=frame.index, dtype="Float64")


# ---------------------------------------------------------------------------------------------- business


def _pair_equal(table: str, name: str, column: str, derived: str, derivation: Derivation, sources: tuple[str, ...],
                description: str, compared: str | None = None) -> Rule:
    """``compared`` (default ``column``) must equal the derived column, row by row; the rule is about ``column``."""
    return Rule(f"{table}.{column}.{name}", "ExpectColumnPairValuesToBeEqual",
                {"column_A": compared or column, "column_B": derived, "ignore_row_if": "either_value_is_missing"},
                description, column, origine="metier", derive={derived: derivation}, sources=sources)


def _plausible_dates(table: str, column: str, low: date, high: date, severite: str = BLOQUANT,
                     mostly: float = 0.999) -> Rule:
    tolerance = f"{100 * (1 - mostly):.1g}".replace(".", ",")
    return Rule(f"{table}.{column}.plage_plausible", "ExpectColumnValuesToBeBetween",
                {"column": column, "min_value": low, "max_value": high, "mostly": mostly},
                f"{column} entre {low.isoformat()} et {high.isoformat()} (tolérance {tolerance} %)",
                column, severite=severite, origine="metier")


def _marches(today: date) -> list[Rule]:
    date_max = today + timedelta(days=366)
    return [
        _pair_equal("marches", "construction", "uid", "calcule_uid_attendu", _concatenation("acheteur_id", "id"),
                    ("acheteur_id", "id"), "uid = acheteur_id + id"),
        # Amounts above 10 bn EUR exist only as rare framework maxima; more than 1 in 1,000 means a unit error
        # (cents) or a parsing bug.
        Rule("marches.montant.plafond_plausible", "ExpectColumnValuesToBeBetween",
             {"column": "montant", "max_value": MONTANT_MAX_PLAUSIBLE, "mostly": 0.999},
             "montant <= 10 milliards d'euros (tolérance 0,1 %)", "montant", origine="metier"),
        _pair_equal("marches", "coherence_aberrant", "montant_aberrant", "calcule_montant_hors_plage",
                    _montant_hors_plage, ("montant",),
                    "montant_aberrant vrai si et seulement si montant hors de [200 ; 999 999 999] euros"),
        # Dates: real DECP carry a few typos (years 1900, 2201, 2921…); 1 in 1,000 is tolerated, more means a
        # parsing bug. Unreadable dates count as out of range.
        _plausible_dates("marches", "date_notification", DATE_MIN, date_max),
        Rule("marches.annee.plage_plausible", "ExpectColumnValuesToBeBetween",
             {"column": "annee", "min_value": YEAR_MIN, "max_value": today.year + 1, "mostly": 0.999},
             f"annee entre {YEAR_MIN} et {today.year + 1} (tolérance 0,1 %)", "annee", origine="metier"),
        _pair_equal("marches", "annee_de_notification", "annee", "calcule_annee_date_notification",
                    _year_of("date_notification"), ("date_notification",), "annee = année de date_notification"),
        # Durations: multi-decade contracts exist but are rare.
        Rule("marches.duree_mois.plafond_plausible", "ExpectColumnValuesToBeBetween",
             {"column": "duree_mois", "max_value": DUREE_MOIS_MAX, "mostly": 0.999},
             f"duree_mois <= {DUREE_MOIS_MAX} (tolérance 0,1 %)", "duree_mois", origine="metier"),
        # The pipeline's decision: a real boolean, consistent with its score.
        Rule("marches.innovant.booleen", "ExpectColumnValuesToBeInSet",
             {"column": "innovant", "value_set": [True, False]}, "innovant booléen", "innovant", origine="metier"),
        _pair_equal("marches", "seuil_score", "innovant", "calcule_innovant_attendu", _innovant_attendu,
                    ("innovation_score",), "innovant vrai si et seulement si innovation_score >= 0,5"),
        Rule("marches.marche_innovant_declare.booleen", "ExpectColumnValuesToBeInSet",
             {"column": "marche_innovant_declare", "value_set": [True, False]},
             "marche_innovant_declare booléen ou vide", "marche_innovant_declare", origine="metier"),
        # Buyer SIRET: real files carry malformed ones (13 digits, spaces, letters). A warning, not a gate: one
        # buyer publishing a malformed SIRET is the buyer's defect, already flagged per row (anomalies:
        # acheteur_siret_invalide), and must not stop the publication; above 5 % the id mapping is broken.
        Rule("marches.acheteur_id.siret", "ExpectColumnValuesToMatchRegex",
             {"column": "acheteur_id", "regex": SIRET, "mostly": 0.95},
             "acheteur_id SIRET à 14 chiffres (tolérance 5 %)", "acheteur_id", severite=AVERTISSEMENT,
             origine="metier"),
    ]


def _titulaires(_today: date) -> list[Rule]:
    return [
        # Cross-table (foreign key titulaires.uid → marches.uid): the orphan uids themselves are the
        # unexpected values.
        Rule("titulaires.uid.existe_dans_marches", "ExpectColumnValuesToBeNull",
             {"column": "calcule_uid_absent_de_marches"}, "chaque uid de titulaires existe dans marches", "uid",
             origine="metier", derive={"calcule_uid_absent_de_marches": _uid_absent_de_marches}, sources=("uid",),
             contexte=("marches",)),
        Rule("titulaires.rang.au_plus_nb_titulaires", "ExpectColumnPairValuesAToBeGreaterThanB",
             {"column_A": "calcule_nb_titulaires_du_marche", "column_B": "rang", "or_equal": True,
              "ignore_row_if": "either_value_is_missing"},
             "rang <= nb_titulaires du marché", "rang", origine="metier",
             derive={"calcule_nb_titulaires_du_marche": _nb_titulaires_du_marche}, sources=("uid",),
             contexte=("marches",)),
        Rule("titulaires.titulaire_id.siret", "ExpectColumnValuesToMatchRegex",
             {"column": "calcule_titulaire_siret_declare", "regex": SIRET, "mostly": 0.95},
             "titulaire_id à 14 chiffres quand son type est SIRET (tolérance 5 %)", "titulaire_id",
             severite=AVERTISSEMENT, origine="metier",
             derive={"calcule_titulaire_siret_declare": _siret_when_declared},
             sources=("titulaire_id", "titulaire_type_identifiant")),
    ]


def _concessions(today: date) -> list[Rule]:
    date_max = today + timedelta(days=366)
    return [
        _pair_equal("concessions", "construction", "uid", "calcule_uid_attendu",
                    _concatenation("autorite_concedante_id", "id"), ("autorite_concedante_id", "id"),
                    "uid = autorite_concedante_id + id"),
        _pair_equal("concessions", "annee_de_signature", "annee", "calcule_annee_date_signature",
                    _year_of("date_signature"), ("date_signature",), "annee = année de date_signature"),
        _plausible_dates("concessions", "date_signature", CONCESSION_DATE_MIN, date_max, severite=AVERTISSEMENT),
        # Large concessions (motorways, networks) can exceed 10 bn EUR: reported, never a gate.
        Rule("concessions.valeur_globale.plafond_plausible", "ExpectColumnValuesToBeBetween",
             {"column": "valeur_globale", "max_value": MONTANT_MAX_PLAUSIBLE},
             "valeur_globale <= 10 milliards d'euros", "valeur_globale", severite=AVERTISSEMENT, origine="metier"),
        Rule("concessions.autorite_concedante_id.siret", "ExpectColumnValuesToMatchRegex",
             {"column": "autorite_concedante_id", "regex": SIRET, "mostly": 0.95},
             "autorite_concedante_id SIRET à 14 chiffres (tolérance 5 %)", "autorite_concedante_id",
             severite=AVERTISSEMENT, origine="metier"),
    ]


def _avis(today: date) -> list[Rule]:
    date_max = today + timedelta(days=366)
    return [
        _pair_equal("avis", "prefixe_source", "id_avis", "calcule_prefixe_id_avis", _prefixe_id_avis,
                    ("id_avis",), "le préfixe de id_avis (boamp: / ted:) est la source", compared="source"),
        Rule("avis.innovant.booleen", "ExpectColumnValuesToBeInSet",
             {"column": "innovant", "value_set": [True, False]}, "innovant booléen", "innovant", origine="metier"),
        _pair_equal("avis", "seuil_score", "innovant", "calcule_innovant_attendu", _innovant_attendu,
                    ("innovation_score",), "innovant vrai si et seulement si innovation_score >= 0,5"),
        _plausible_dates("avis", "date_publication", DATE_MIN, date_max),
        # A deadline before the publication is a typo of the buyer or a rectified notice: reported only.
        Rule("avis.date_limite_reponse.apres_publication", "ExpectColumnPairValuesAToBeGreaterThanB",
             {"column_A": "calcule_date_limite_reponse", "column_B": "calcule_date_publication", "or_equal": True,
              "ignore_row_if": "either_value_is_missing", "mostly": 0.99},
             "date_limite_reponse >= date_publication (tolérance 1 %)", "date_limite_reponse",
             severite=AVERTISSEMENT, origine="metier",
             derive={"calcule_date_limite_reponse": _dates("date_limite_reponse"),
                     "calcule_date_publication": _dates("date_publication")},
             sources=("date_limite_reponse", "date_publication")),
    ]


def _indicateurs(_today: date) -> list[Rule]:
    return [
        Rule("indicateurs.valeur.ratio", "ExpectColumnValuesToBeBetween",
             {"column": "calcule_ecart_valeur_ratio", "min_value": 0, "max_value": VALEUR_TOLERANCE},
             "valeur = numerateur / denominateur à 1e-6 près (au-delà de l'arrondi des montants au centime) "
             "quand denominateur > 0, vide sinon", "valeur", origine="metier",
             derive={"calcule_ecart_valeur_ratio": _ecart_valeur_ratio},
             sources=("valeur", "numerateur", "denominateur", "unite")),
        _pair_equal("indicateurs", "unite_de_mesure", "unite", "calcule_unite_attendue", _unite_attendue,
                    ("mesure",), "unite = euros pour les mesures part_montant*, marches sinon"),
        *(_nested_scopes(column) for column in ("denominateur", "nb_marches")),
    ]


def _nested_scopes(column: str) -> Rule:
    derived = f"calcule_{column}_perimetre_englobant"
    return Rule(f"indicateurs.{column}.perimetres_emboites", "ExpectColumnPairValuesAToBeGreaterThanB",
                {"column_A": derived, "column_B": column, "or_equal": True,
                 "ignore_row_if": "either_value_is_missing"},
                f"périmètres emboîtés : {column}(etat) <= etat_operateurs <= etat_operateurs_hopitaux <= "
                "tous_acheteurs (même année et mesure, ventilation ensemble)", column, origine="metier",
                derive={derived: _perimetre_englobant(column)},
                sources=("annee", "famille", "mesure", "perimetre", "ventilation", "modalite", column))


def _references(_today: date) -> list[Rule]:
    return [
        Rule("references.url.http", "ExpectColumnValuesToMatchRegex", {"column": "url", "regex": r"^https?://\S+$"},
             "url commence par http:// ou https:// (sans espace)", "url", origine="metier"),
        Rule("references.ecart.difference", "ExpectColumnValuesToBeBetween",
             {"column": "calcule_ecart_hors_arrondi", "min_value": 0, "max_value": 0},
             "ecart = valeur_observatoire - valeur_officielle quand les deux sont renseignées "
             "(à l'arrondi publié près)", "ecart", origine="metier",
             derive={"calcule_ecart_hors_arrondi": _ecart_hors_arrondi},
             sources=("ecart", "valeur_observatoire", "valeur_officielle", "unite")),
    ]


def _rejets(_today: date) -> list[Rule]:
    return [
        Rule("rejets.fichier.non_vide", "ExpectColumnValuesToMatchRegex", {"column": "fichier", "regex": r"\S"},
             "fichier non vide (un rejet dit toujours d'où il vient)", "fichier", origine="metier"),
    ]


def _bilan_par_fichier(frame: pd.DataFrame, _context: Mapping[str, pd.DataFrame], _memo: Memo) -> pd.Series:
    """On the ``lus`` rows: gardes + fusionnes + rejetes of the same source and file (null elsewhere)."""
    keys = ["source", "fichier"]
    parts = frame[frame["indicateur"].astype("string").isin(["gardes", "fusionnes", "rejetes"]).fillna(False)]
    sums = parts.assign(valeur=pd.to_numeric(parts["valeur"], errors="coerce")).groupby(keys, dropna=False)[
        "valeur"].sum(min_count=1)
    read = frame["indicateur"].astype("string").eq("lus").fillna(False).to_numpy(dtype=bool)
    index = pd.MultiIndex.from_frame(frame[keys])
    values = sums.reindex(index).to_numpy(dtype=float, na_value=np.nan) if len(sums) else np.full(len(frame), np.nan)
    # A file whose lus row has no gardes/fusionnes/rejetes row at all is compared with 0.
    values = np.where(read, np.nan_to_num(values, nan=0.0), np.nan)
    return pd.Series(values, index=frame.index, dtype="Float64")


def _qualite(_today: date) -> list[Rule]:
    return [
        # Nothing is dropped silently: every record read is kept, merged into another one, or rejected.
        _pair_equal("qualite", "bilan_lus", "valeur", "calcule_gardes_fusionnes_rejetes", _bilan_par_fichier,
                    ("source", "fichier", "indicateur", "valeur"),
                    "lus = gardes + fusionnes + rejetes, pour chaque fichier et chaque source"),
    ]


_BUSINESS: dict[str, Callable[[date], list[Rule]]] = {
    "marches": _marches,
    "titulaires": _titulaires,
    "concessions": _concessions,
    "avis": _avis,
    "indicateurs": _indicateurs,
    "references": _references,
    "rejets": _rejets,
    "qualite": _qualite,
}


def table_rules(table: str, today: date | None = None) -> list[Rule]:
    """The suite of ``table``: schema rules, then business rules. ``today`` (default: the current date) bounds
    the plausible dates (today + 1 year) and years (today's year + 1)."""
    if table not in schemas.TABLES:
        raise ValueError(f"table inconnue : {table!r} (tables : {', '.join(schemas.TABLES)})")
    business = _BUSINESS.get(table)  # a new published table gets at least its schema's rules
    suite = schema_rules(table) + (business(today or date.today()) if business else [])
    ids = [r.id for r in suite]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"identifiants de règle en double : {sorted(duplicates)}")
    return suite


# ------------------------------------------------------------------------------------------------- prepare


def prepare(table: str, frame: pd.DataFrame, suite: list[Rule],
            context: Mapping[str, pd.DataFrame] | None = None) -> tuple[pd.DataFrame, list[Rule], list[Rule]]:
    """The frame GX validates: the columns the rules read, derived columns added, dates as ``date`` objects.

    Returns (data, rules to run, rules skipped because a table of their ``contexte`` is missing). An empty frame
    gets every missing column (so that every rule is evaluated and passes); a non-empty frame without a column
    fails that column's rules (GX reports the missing column)."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{table} : pandas.DataFrame attendu, pas {type(frame).__name__}")
    context = context or {}
    active = [r for r in suite if all(isinstance(context.get(t), pd.DataFrame) for t in r.contexte)]
    skipped = [r for r in suite if not all(isinstance(context.get(t), pd.DataFrame) for t in r.contexte)]
    needed = {c for r in active for c in [*r.gx_columns, *r.sources]}
    frame = pd.DataFrame({c: _blank_as_null(frame[c]) for c in frame.columns if c in needed}, index=frame.index)
    data = pd.DataFrame(index=frame.index)
    memo: Memo = {}
    for rule in active:
        for column in rule.gx_columns:
            if column in data.columns:
                continue
            if column in rule.derive:
                if len(frame) and all(source in frame.columns for source in rule.sources):
                    data[column] = rule.derive[column](frame, context, memo)
            elif column in frame.columns:
                data[column] = frame[column]
    for rule in active:
        bounds = [rule.kwargs.get("min_value"), rule.kwargs.get("max_value")]
        column = rule.kwargs.get("column")
        if column in data.columns and any(isinstance(b, date) for b in bounds) and not column.startswith("calcule_"):
            data[column] = as_dates(data[column])
    if len(frame) == 0:
        for rule in active:
            for column in rule.gx_columns:
                if column not in data.columns:
                    data[column] = pd.Series([], dtype=object)
    return _numpy_numbers(data.reset_index(drop=True)), active, skipped


def _numpy_numbers(data: pd.DataFrame) -> pd.DataFrame:
    """Nullable numbers (Int64, Float64) as numpy float64 with NaN: GX's pandas ``between`` is vectorised only
    for numpy dtypes, and tests every value in Python otherwise (10x slower)."""
    for name in data.columns:
        dtype = data[name].dtype
        if isinstance(dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_numeric_dtype(dtype) \
                and not pd.api.types.is_bool_dtype(dtype):
            data[name] = data[name].to_numpy(dtype="float64", na_value=np.nan)
    return data


def _blank_as_null(series: pd.Series) -> pd.Series:
    """An empty string is a missing value, as in the published CSV (and for Frictionless)."""
    if pd.api.types.is_string_dtype(series.dtype) or series.dtype == object:
        blank = series.map(lambda v: isinstance(v, str) and v == "") if series.dtype == object else series.eq("")
        blank = blank.fillna(False).to_numpy(dtype=bool)
        if blank.any():
            return series.mask(blank)
    return series


def fingerprint(suite: list[Rule]) -> str:
    """A stable key of a suite's content (its GX suite is built once per process and per fingerprint)."""
    import hashlib
    import json

    payload = [[r.id, r.expectation, r.severite, {k: (v.isoformat() if isinstance(v, date) else v)
                                                  for k, v in r.kwargs.items()}] for r in suite]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
