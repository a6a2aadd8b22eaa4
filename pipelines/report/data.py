"""What the report shows, read from the published tables: headline, trends, breakdowns, top buyers.

Pure pandas, no HTML. Every function accepts empty or partial tables (missing columns, wrong dtypes, no row for a
year or a family) and answers with empty results rather than raising: the page says what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .labels import SCOPES

COLUMNS = ["annee", "perimetre", "famille", "mesure", "valeur", "numerateur", "denominateur", "unite", "cible",
           "couverture", "nb_marches", "methode", "ventilation", "modalite"]
NUMERIC = ("valeur", "numerateur", "denominateur", "cible", "couverture", "nb_marches")
ALL = "ensemble"

# Same values as pipelines/indicators.py; used only when a row carries no ``cible`` (kept here so that the report
# stays importable without the classifier).
TARGET_OBJECT = 0.02
TARGET_SUPPLIER_2020 = 0.02
TARGET_SUPPLIER_2027 = 0.04
SUPPLIER_2027_FROM = 2023

# Below this number of contracts in a year, one contract more or less moves a share by a point or more.
SMALL_SAMPLE = 100
TOP_MODALITIES = 15


def _text(value) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def indicators_frame(frame: pd.DataFrame | None) -> pd.DataFrame:
    """The indicators table with every expected column, numbers as floats, codes as str, rows without a year
    dropped."""
    if frame is None or not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame()
    out = pd.DataFrame({c: frame[c] if c in frame.columns else pd.Series(None, index=frame.index, dtype=object)
                        for c in COLUMNS}, index=frame.index)
    out["annee"] = pd.to_numeric(out["annee"], errors="coerce")
    out = out[out["annee"].notna()].copy()
    out["annee"] = out["annee"].astype(int)
    for column in NUMERIC:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    for column in ("perimetre", "famille", "mesure", "unite", "methode", "ventilation", "modalite"):
        out[column] = out[column].map(_text).astype(object)
    return out.reset_index(drop=True)


def select(ind: pd.DataFrame, scope: str | None = None, family: str | None = None, measure: str | None = None,
           breakdown: str | None = ALL, year: int | None = None) -> pd.DataFrame:
    mask = pd.Series(True, index=ind.index)
    for column, wanted in (("perimetre", scope), ("famille", family), ("mesure", measure),
                           ("ventilation", breakdown), ("annee", year)):
        if wanted is not None:
            mask &= ind[column] == wanted
    return ind[mask]


def row(ind: pd.DataFrame, **criteria) -> dict | None:
    """The single row matching ``criteria`` as a dict (the first one if the table repeats a key), or None."""
    rows = select(ind, **criteria)
    return None if rows.empty else rows.iloc[0].to_dict()


def years_with_contracts(ind: pd.DataFrame, scope: str | None = None) -> list[int]:
    """Years where the scope (any scope when None) has at least one contract, from the « ensemble » rows."""
    rows = select(ind, scope=scope)
    return sorted(int(y) for y in rows.loc[rows["nb_marches"].fillna(0) > 0, "annee"].unique())


@dataclass
class Headline:
    year: int | None                 # latest year with State contracts
    last_year: int | None            # latest year with contracts in any scope
    amount: dict | None = None       # etat / objet_innovant / part_montant / ensemble
    count: dict | None = None        # etat / objet_innovant / part_nombre / ensemble
    later_years: list[tuple[int, int]] = field(default_factory=list)  # later (year, contracts of all buyers)


def headline(ind: pd.DataFrame) -> Headline:
    state_years = years_with_contracts(ind, "etat")
    all_years = years_with_contracts(ind)
    year = state_years[-1] if state_years else None
    result = Headline(year=year, last_year=all_years[-1] if all_years else None)
    if year is None:
        return result
    result.amount = row(ind, scope="etat", family="objet_innovant", measure="part_montant", year=year)
    result.count = row(ind, scope="etat", family="objet_innovant", measure="part_nombre", year=year)
    for later in (y for y in all_years if y > year):
        contracts = select(ind, year=later)["nb_marches"].max()
        result.later_years.append((later, int(contracts)))
    return result


def reference_year(ind: pd.DataFrame) -> int | None:
    """The year of the breakdowns and the buyers' table: the headline's year, else the latest year with data."""
    head = headline(ind)
    return head.year if head.year is not None else head.last_year


def trend(ind: pd.DataFrame, family: str, measure: str) -> dict[str, list[tuple[int, float, int]]]:
    """Scope -> [(year, share, contracts)] for the years where the share is defined; scopes without any left out."""
    series = {}
    for scope in SCOPES:
        rows = select(ind, scope=scope, family=family, measure=measure)
        rows = rows[rows["valeur"].notna()].drop_duplicates("annee").sort_values("annee")
        if not rows.empty:
            series[scope] = [(int(r.annee), float(r.valeur), int(r.nb_marches) if pd.notna(r.nb_marches) else 0)
                             for r in rows.itertuples()]
    return series


def default_target(family: str, year: int) -> float:
    if family == "fournisseur_innovant":
        return TARGET_SUPPLIER_2027 if year >= SUPPLIER_2027_FROM else TARGET_SUPPLIER_2020
    return TARGET_OBJECT


def targets(ind: pd.DataFrame, family: str, years: list[int]) -> dict[int, float]:
    """Target of the family for every year from the first to the last of ``years`` (the published ``cible``
    when a row has one, else the rule of pipelines/indicators.py)."""
    if not years:
        return {}
    published = select(ind, family=family).dropna(subset=["cible"]).groupby("annee")["cible"].max()
    return {y: float(published.get(y, default_target(family, y))) for y in range(min(years), max(years) + 1)}


@dataclass
class SupplierChoice:
    measure: str | None     # part_montant, part_montant_pme or None
    reason: str             # why that measure (or none) is shown: rows_missing, no_value, list, upper_bound


def supplier_measure(ind: pd.DataFrame) -> SupplierChoice:
    """The supplier family's measure to plot: the innovative-SME share when a list was configured, else its upper
    bound (SMEs of any kind), else nothing."""
    family = select(ind, family="fournisseur_innovant")
    if family.empty:
        return SupplierChoice(None, "rows_missing")
    for measure, reason in (("part_montant", "list"), ("part_montant_pme", "upper_bound")):
        if family.loc[family["mesure"] == measure, "valeur"].notna().any():
            return SupplierChoice(measure, reason)
    return SupplierChoice(None, "no_value")


def breakdown(ind: pd.DataFrame, name: str, scope: str, year: int | None,
              top: int | None = None) -> tuple[pd.DataFrame, int]:
    """part_nombre rows of one breakdown, most contracts first (then by code); the top ``top``, and how many
    modalities there were in all."""
    if year is None:
        return select(ind, year=-1), 0
    rows = select(ind, scope=scope, family="objet_innovant", measure="part_nombre", breakdown=name, year=year)
    rows = rows.drop_duplicates("modalite")
    rows = rows.assign(_n=rows["nb_marches"].fillna(0)).sort_values(["_n", "modalite"], ascending=[False, True],
                                                                     kind="stable").drop(columns="_n")
    total = len(rows)
    return (rows.head(top) if top else rows), total


def top_buyers(ind: pd.DataFrame, year: int | None, scope: str = "tous_acheteurs") -> tuple[int | None, pd.DataFrame]:
    """Buyers with the largest innovative amount for ``year`` (else the latest year that has any), with their
    share in amount and their innovative and total contracts."""
    columns = ["siret", "montant_innovant", "part_montant", "nb_innovants", "nb_marches"]
    rows = select(ind, scope=scope, family="objet_innovant", breakdown="acheteur")
    if rows.empty:
        return None, pd.DataFrame(columns=columns)
    years = sorted(rows["annee"].unique())
    used = year if year in years else int(years[-1])
    rows = rows[rows["annee"] == used]
    amount = rows[rows["mesure"] == "part_montant"].drop_duplicates("modalite").set_index("modalite")
    count = rows[rows["mesure"] == "part_nombre"].drop_duplicates("modalite").set_index("modalite")
    sirets = sorted(set(amount.index) | set(count.index))
    table = pd.DataFrame({
        "siret": sirets,
        "montant_innovant": [amount["numerateur"].get(s) for s in sirets],
        "part_montant": [amount["valeur"].get(s) for s in sirets],
        "nb_innovants": [count["numerateur"].get(s) for s in sirets],
        "nb_marches": [count["denominateur"].get(s, amount["nb_marches"].get(s)) for s in sirets],
    }, columns=columns)
    table = table.assign(_m=pd.to_numeric(table["montant_innovant"], errors="coerce").fillna(-1))
    table = table.sort_values(["_m", "siret"], ascending=[False, True], kind="stable").drop(columns="_m")
    return int(used), table.reset_index(drop=True)


def buyer_names(marches: pd.DataFrame | None, sirets: list[str]) -> dict[str, str]:
    """Name of each buyer as published in ``marches`` (its most frequent spelling, then the first in order)."""
    if marches is None or not sirets or not {"acheteur_id", "acheteur_nom"} <= set(marches.columns):
        return {}
    rows = marches.loc[marches["acheteur_id"].astype(str).isin(sirets), ["acheteur_id", "acheteur_nom"]].dropna()
    if rows.empty:
        return {}
    rows = rows.astype(str)
    counts = rows.groupby(["acheteur_id", "acheteur_nom"]).size().reset_index(name="n")
    counts = counts.sort_values(["acheteur_id", "n", "acheteur_nom"], ascending=[True, False, True], kind="stable")
    return dict(counts.drop_duplicates("acheteur_id")[["acheteur_id", "acheteur_nom"]].itertuples(index=False))


def contracts_summary(marches: pd.DataFrame | None) -> tuple[int, int | None]:
    """Number of published contracts and, when the column is there, how many were decided innovative."""
    if marches is None or not isinstance(marches, pd.DataFrame):
        return 0, None
    if "innovant" not in marches.columns:
        return len(marches), None
    flags = marches["innovant"].map(lambda v: str(v).strip().lower() in ("true", "1", "vrai", "oui"))
    return len(marches), int(flags.sum())
