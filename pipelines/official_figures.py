"""Official figures beside ours: the published anchors (reference/indicators.md §2) and, for each, our value on
the closest comparable scope, the difference, and why the two differ.

The anchors are data (reference/chiffres_officiels.csv: value, scope, definition, source URL, confidence); the
`comparaison` column says which of our figures is the closest:
- ``objet:<scope>:<measure>``: our object-based indicator for that scope (same year, else the latest year);
- ``fournisseur:<scope>:part_montant``: our supplier-based share (needs a list of innovative SMEs);
- ``r2122_9_1:<from>:<to>``: our count of contracts decided innovant through the R2122-9-1 form in that window;
- ``denominateur:<scope>``: the total awarded amount behind our money shares;
- ``aucune``: nothing comparable in the data.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

OFFICIAL = Path(__file__).parent / "reference" / "chiffres_officiels.csv"

COLUMNS = ["id", "annee", "periode", "famille", "perimetre_officiel", "definition", "valeur_officielle", "unite",
           "source", "url", "fiabilite", "perimetre_observatoire", "mesure_observatoire", "annee_observatoire",
           "valeur_observatoire", "ecart", "explication"]

_DIFFERENT_MEASURE = (
    "Les chiffres officiels de cette famille comptent des achats auprès de PME innovantes ou de start-up (liste "
    "non publiée) et des dépenses ; l'observatoire compte des montants attribués (maximums des accords-cadres) "
    "dans les DECP lues, qui ne couvrent qu'une partie des acheteurs."
)


def read_official(path: Path = OFFICIAL) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype={"annee": "Int64", "valeur": float}, keep_default_na=False)
    return frame.rename(columns={"valeur": "valeur_officielle"})


def notification_days(dates: pd.Series) -> pd.Series:
    """Each notification date at midnight (NaT where missing or unreadable). A date column is floored as it is:
    formatting a million dates as text to read back their first ten characters took 0.45 s."""
    if dates.dtype.kind == "M":
        return dates.dt.floor("D")
    return pd.to_datetime(dates.astype("string").str[:10], errors="coerce")


def _headline(indicateurs: pd.DataFrame, famille: str, perimetre: str, mesure: str) -> pd.DataFrame:
    if indicateurs.empty:
        return indicateurs
    rows = indicateurs[(indicateurs["famille"] == famille) & (indicateurs["perimetre"] == perimetre)
                       & (indicateurs["mesure"] == mesure) & (indicateurs["ventilation"] == "ensemble")]
    return rows[rows["valeur"].notna()] if mesure.startswith("part") else rows


def _pick_year(rows: pd.DataFrame, year: int | None) -> pd.Series | None:
    if rows.empty:
        return None
    same = rows[rows["annee"] == year] if year is not None else rows.iloc[0:0]
    return (same if len(same) else rows.sort_values("annee")).iloc[-1]


def _compare(official: pd.Series, indicateurs: pd.DataFrame, marches: pd.DataFrame) -> dict:
    kind, *args = official["comparaison"].split(":")
    year = None if pd.isna(official["annee"]) else int(official["annee"])
    out = {"perimetre_observatoire": None, "mesure_observatoire": None, "annee_observatoire": None,
           "valeur_observatoire": None, "ecart": None}
    if kind in ("objet", "fournisseur"):
        scope, measure = args
        famille = "objet_innovant" if kind == "objet" else "fournisseur_innovant"
        row = _pick_year(_headline(indicateurs, famille, scope, measure), year)
        out.update(perimetre_observatoire=scope, mesure_observatoire=f"{famille}/{measure}")
        if row is None:
            bound = _pick_year(_headline(indicateurs, "fournisseur_innovant", scope, "part_montant_pme"), year)
            extra = (f" Borne haute (achats auprès de PME de toute sorte, {int(bound['annee'])}) : "
                     f"{bound['valeur'] * 100:.2f} %.".replace(".", ",", 1) if bound is not None else "")
            why = ("Non calculable : aucune liste ouverte de PME innovantes n'est configurée (ACHATS_PME_INNOVANTES)."
                   if kind == "fournisseur" else "Non calculable : aucun marché de ce périmètre dans les données lues.")
            return {**out, "explication": why + extra + (" " + _DIFFERENT_MEASURE if kind == "fournisseur" else "")}
        value = float(row["valeur"])
        note = ("Écart à la cible : part mesurée par l'observatoire moins la cible." if official["famille"] == "cible"
                else _DIFFERENT_MEASURE)
        if int(row["annee"]) != year:
            note += f" Année la plus proche disponible : {int(row['annee'])}."
        return {**out, "annee_observatoire": int(row["annee"]), "valeur_observatoire": round(value, 6),
                "ecart": round(value - float(official["valeur_officielle"]), 6), "explication": note}
    if kind == "r2122_9_1":
        start, end = (pd.Timestamp(d) for d in args)
        notified = notification_days(marches["date_notification"])
        signals = marches["innovation_signaux"].astype("string").fillna("")
        count = int((marches["innovant"].fillna(False).astype(bool) & signals.str.contains("r2122_9_1")
                     & (notified >= start) & (notified <= end)).sum())
        return {**out, "perimetre_observatoire": "tous_acheteurs", "mesure_observatoire": "marches innovants R2122-9-1",
                "annee_observatoire": end.year, "valeur_observatoire": float(count),
                "ecart": float(count) - float(official["valeur_officielle"]),
                "explication": "Marchés des DECP lues notifiés dans la période, décidés innovants avec le signal "
                               "r2122_9_1 (sans publicité, < 100 000 € HT) ; les DECP lues ne couvrent qu'une partie "
                               "des acheteurs et l'expérimentation comptait les déclarations à l'OECP."}
    if kind == "denominateur":
        (scope,) = args
        row = _pick_year(_headline(indicateurs, "objet_innovant", scope, "part_montant"), year)
        if row is None:
            return {**out, "explication": "Non calculable : aucun marché de ce périmètre dans les données lues."}
        value = float(row["denominateur"])
        note = ("Nos montants : marchés des DECP lues (toutes tailles, montants attribués, hors montants aberrants) ; "
                "les chiffres officiels couvrent tous les acheteurs du périmètre (recensement : marchés ≥ 90 k€).")
        if int(row["annee"]) != year:
            note += f" Année la plus proche disponible : {int(row['annee'])}."
        return {**out, "perimetre_observatoire": scope, "mesure_observatoire": "objet_innovant/part_montant "
                "(dénominateur)", "annee_observatoire": int(row["annee"]), "valeur_observatoire": round(value, 2),
                "ecart": round(value - float(official["valeur_officielle"]), 2), "explication": note}
    return {**out, "explication": "Pas de périmètre comparable dans les données de l'observatoire."}


def compare(indicateurs: pd.DataFrame, marches: pd.DataFrame, official: pd.DataFrame | None = None) -> pd.DataFrame:
    official = read_official() if official is None else official
    rows = []
    for _, figure in official.iterrows():
        rows.append({**figure.drop(labels=["comparaison"]).to_dict(), **_compare(figure, indicateurs, marches)})
    return pd.DataFrame(rows, columns=COLUMNS)
