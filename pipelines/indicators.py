"""Indicators: how far each scope of buyers is from the innovative-purchasing targets, per year, in long format.

One row per year × scope × family × measure × breakdown, with numerator, denominator and coverage, so that
every figure can be recomputed from ``marches`` (and ``titulaires`` for the supplier family). Amounts are
awarded amounts (for framework agreements often the estimated maximum), not payments.

Families (reference/indicators.md §0, §1.2):
- ``objet_innovant``: the purchase itself is innovative (the observatoire's decision, and the buyer's own
  ``marcheInnovant`` declaration as ``*_declare`` measures). Target: 2 % of the volume of purchases.
- ``fournisseur_innovant``: bought from innovative SMEs (Pacte 2012 mesure 32: 2 % by 2020; DAE 2023: 4 % by
  2027). No open list of innovative SMEs exists; ``part_*`` of this family is therefore published only when one
  is configured (ACHATS_PME_INNOVANTES), and ``part_*_pme`` (bought from SMEs of any kind, SIRENE
  ``categorieEntreprise``) is published as its upper bound, with the coverage of the supplier size.
- ``qualite_donnees``: the data-quality panel (declared flag missing, amounts excluded as outliers).

Amount hygiene (decp-qualite, reference/decp.md §2.1): amounts below 200 € or above 999 999 999 € are outliers;
they stay in ``marches`` (flag ``montant_aberrant``) and in the counts, and are left out of every money measure,
counted per year and scope in the quality panel.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import sorted_keys
from .arrow_codes import arrow_strings, dictionary_codes
from .classify import METHOD_VERSION

TARGET_OBJECT = 0.02
TARGET_SUPPLIER_2020 = 0.02  # Pacte national pour la croissance (2012), mesure 32
TARGET_SUPPLIER_2027 = 0.04  # DAE, plan « Je choisis la French Tech » (June 2023): 2.4 % (2021) -> 4 % (2027)
SUPPLIER_2027_FROM = 2023

AMOUNT_MIN = 200.0
AMOUNT_MAX = 999_999_999.0

TOP_BUYERS = 20
ALL = "ensemble"

# Scope name -> buyer categories it takes (None: every buyer). Nested, as the targets were worded.
SCOPES: dict[str, tuple[str, ...] | None] = {
    "etat": ("etat",),
    "etat_operateurs": ("etat", "operateur_etat"),
    "etat_operateurs_hopitaux": ("etat", "operateur_etat", "hopital"),
    "tous_acheteurs": None,
}

# Breakdowns of the object family: name -> function of the contracts giving the category of each row.
BREAKDOWNS = ("acheteur_categorie", "ministere", "departement", "division_cpv", "procedure", "nature")

COLUMNS = ["annee", "perimetre", "famille", "mesure", "valeur", "numerateur", "denominateur", "unite", "cible",
           "couverture", "nb_marches", "methode", "ventilation", "modalite"]


def amount_outlier(montant: pd.Series) -> pd.Series:
    """True where an amount is present and outside [200 €, 999 999 999 €] (decp-qualite's range)."""
    amount = pd.to_numeric(montant, errors="coerce")
    return (amount.notna() & ((amount < AMOUNT_MIN) | (amount > AMOUNT_MAX))).astype(bool)


def departement(code: pd.Series, kind: pd.Series) -> pd.Series:
    """Department of the place of performance, from a department code or a postal code; else missing.

    Found once per distinct (code, kind) pair of Arrow-backed columns (a national million has a few thousand
    pairs: 1.0 s of string work per row → 0.1 s), then spread to the rows."""
    found = [dictionary_codes(column) for column in (code, kind)]
    if found[0] is None or found[1] is None:
        return _departement(code, kind)
    (code_codes, _), (kind_codes, kind_values) = found
    pairs = (code_codes.astype(np.int64) + 1) * (len(kind_values) + 1) + (kind_codes + 1)
    _, first, inverse = np.unique(pairs, return_index=True, return_inverse=True)
    each = _departement(code.take(first).reset_index(drop=True), kind.take(first).reset_index(drop=True))
    return pd.Series(each.array.take(inverse.ravel()), index=code.index)


def _departement(code: pd.Series, kind: pd.Series) -> pd.Series:
    code = code.astype("string").str.strip().str.upper()
    kind = kind.astype("string").str.lower()
    out = pd.Series(pd.NA, index=code.index, dtype="string")
    is_dept = kind.str.contains("partement", na=False) & code.str.fullmatch(r"\d{2,3}|2[AB]", na=False)
    out[is_dept] = code[is_dept]
    postal = kind.str.contains("postal", na=False) & code.str.fullmatch(r"\d{5}", na=False)
    overseas = postal & code.str.startswith("97", na=False)
    out[postal & ~overseas] = code[postal & ~overseas].str[:2]
    out[overseas] = code[overseas].str[:3]
    return out


_DIVISION = r"^\s*(\d{2})"
# The same for ASCII text, in RE2: Python's \s also takes the ASCII separators \x1c-\x1f (and \d, \s non-ASCII
# digits and spaces, left to Python's re).
_DIVISION_ASCII = r"^[\t\n\x0b\x0c\r\x1c-\x1f ]*([0-9]{2})"


def cpv_division(codes: pd.Series) -> pd.Series:
    """The CPV division (the code's first two digits), as ``str.extract(_DIVISION)`` gives it; in Arrow for ASCII
    codes (pandas runs that extraction value by value in Python: a second per million contracts)."""
    text = codes.astype("string")
    values = pa.array(text.array)
    ascii_ = pc.fill_null(pc.string_is_ascii(values), True)
    found = pc.struct_field(pc.extract_regex(values, _DIVISION_ASCII.replace("(", "(?P<d>", 1)), [0])
    division = found.to_pandas(types_mapper=pd.ArrowDtype).set_axis(codes.index).astype("string")  # by position
    others = ~np.asarray(ascii_, dtype=bool)
    if others.any():
        division[others] = text[others].str.extract(_DIVISION, expand=False)
    return division


# The columns the measures read: groups are cut from this narrow frame, not from the 60-column table.
# (The objects' texts are not among them: only whether a contract has one is read, taken before the copy.)
_USED = ("uid", "annee", "montant", "montant_aberrant", "innovant", "marche_innovant_declare",
         "lieu_execution_code", "lieu_execution_type", "code_cpv", "acheteur_id", "acheteur_categorie",
         "acheteur_categorie_source", "format_source") + BREAKDOWNS


def _prepared(marches: pd.DataFrame) -> pd.DataFrame:
    used = [c for c in dict.fromkeys(_USED) if c in marches.columns]
    dated = marches["annee"].notna().to_numpy(dtype=bool)
    # Column by column: the frame's own boolean selection (.loc) cost 0.85 s on a national million, 0.25 this way.
    frame = pd.DataFrame({name: marches[name].array[dated] for name in used}, index=marches.index[dated])
    amount = pd.to_numeric(frame["montant"], errors="coerce")
    outlier = frame["montant_aberrant"].astype(bool) if "montant_aberrant" in frame else amount_outlier(amount)
    frame["_montant"] = amount.where(~outlier)  # the amount money measures use
    frame["_aberrant"] = outlier.to_numpy(dtype=bool)
    frame["_innovant"] = frame["innovant"].fillna(False).astype(bool)
    frame["_declare"] = frame["marche_innovant_declare"].astype("boolean")
    frame["_a_objet"] = marches["objet"].notna().to_numpy(dtype=bool)[dated]
    frame["departement"] = departement(frame.get("lieu_execution_code", pd.Series(index=frame.index, dtype="string")),
                                       frame.get("lieu_execution_type", pd.Series(index=frame.index, dtype="string")))
    frame["division_cpv"] = cpv_division(frame["code_cpv"])
    if "ministere" not in frame:
        frame["ministere"] = pd.NA
    return frame


def _share(name: str, unit: str, numerator: float, denominator: float, available: int, total: int) -> dict:
    return {
        "mesure": name,
        "unite": unit,
        "numerateur": round(float(numerator), 2),
        "denominateur": round(float(denominator), 2),
        "valeur": round(numerator / denominator, 6) if denominator else None,
        "couverture": round(available / total, 6) if total else None,
    }


class _Columns:
    """What the object measures read, as numpy arrays over the prepared frame's rows: a group's measures are taken
    on its row numbers (a pandas frame cut per group cost milliseconds, and a national year has thousands)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.money = frame["_montant"].notna().to_numpy(dtype=bool)
        self.amount = frame["_montant"].to_numpy(dtype=np.float64, na_value=0.0)
        self.innovative = frame["_innovant"].to_numpy(dtype=bool)
        self.has_object = frame["_a_objet"].to_numpy(dtype=bool)
        self.has_declared = frame["_declare"].notna().to_numpy(dtype=bool)
        self.declared = frame["_declare"].fillna(False).to_numpy(dtype=bool)


def _object_measures(columns: _Columns, at: np.ndarray, declared: bool = True) -> list[dict]:
    """The object family's measures of the rows ``at`` (ascending row numbers: sums add in the rows' order)."""
    total = len(at)
    money, amount, innovative = columns.money[at], columns.amount[at], columns.innovative[at]
    measures = [
        _share("part_nombre", "marches", innovative.sum(), total, columns.has_object[at].sum(), total),
        _share("part_montant", "euros", amount[innovative & money].sum(), amount[money].sum(), money.sum(), total),
    ]
    if declared:
        has, yes = columns.has_declared[at], columns.declared[at]
        measures += [
            _share("part_nombre_declare", "marches", yes.sum(), has.sum(), has.sum(), total),
            _share("part_montant_declare", "euros", amount[yes & money].sum(), amount[has & money].sum(),
                   (has & money).sum(), total),
        ]
    return measures


def _supplier_facts(suppliers: pd.DataFrame | None, innovative_smes: set[str] | None,
                    frame: pd.DataFrame) -> pd.DataFrame | None:
    """Per contract with suppliers (sorted by uid): every supplier's size known, share of SMEs among its
    suppliers, with a list the share of innovative SMEs, and ``ligne``, the contract's row in ``frame`` (-1: none).
    Computed once for all scopes and years; groups then select their contracts by row number, not by uid."""
    if suppliers is None or suppliers.empty or "categorie_entreprise" not in suppliers:
        return None
    columns = {"known": suppliers["categorie_entreprise"].notna(), "pme": suppliers["categorie_entreprise"].eq("PME")}
    if innovative_smes is not None:
        ids = suppliers["titulaire_id"].astype("string").str.replace(r"\s", "", regex=True).str[:9]
        listed = pc.is_in(arrow_strings(ids), value_set=pa.array(sorted(innovative_smes), type=pa.string()))
        columns["inn"] = pd.Series(pc.fill_null(listed, False).to_numpy(zero_copy_only=False), index=suppliers.index)
    facts = _per_uid(suppliers["uid"], columns)
    # pyarrow's index_in: pandas' lookups on Arrow strings go through Python objects (performance.md §3).
    rows = pc.index_in(arrow_strings(facts.index), value_set=arrow_strings(frame["uid"]))
    facts["ligne"] = pc.fill_null(rows, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return facts


def _per_uid(uids: pd.Series, columns: dict[str, pd.Series]) -> pd.DataFrame:
    """Per uid: whether all its rows are ``known``, the mean of the others (missing values left out, as pandas
    does). Rows sorted by uid (the titulaires table) are grouped by the number of their run of neighbours, an
    integer, rather than by hashing their text uids (a national million of suppliers: 1.3-1.9 s → 0.6-0.8 s)."""
    keys, index = uids, None
    same = sorted_keys.repeated_in_order([arrow_strings(uids)])
    if same is not None:
        starts = np.flatnonzero(np.concatenate([[True], ~same]))
        keys = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(uids))))
        index = pd.Index(uids.array.take(starts), name=uids.name)
    facts = pd.DataFrame({name: column.groupby(keys).all() if name == "known" else column.groupby(keys).mean()
                          for name, column in columns.items()})
    if index is not None:
        facts.index = index
    return facts


def _supplier_measures(rows: pd.DataFrame, facts: pd.DataFrame | None, innovative_smes: set[str] | None) -> list[dict]:
    """Shares bought from SMEs (upper bound) and, when a list is configured, from innovative SMEs.

    A contract counts for an SME when at least one of its suppliers is one; its amount is split evenly between
    co-contractors (DECP gives no split), so the SME part of a joint award is its share of suppliers.
    ``rows``: contracts indexed by their row in the prepared frame (compute_indicators)."""
    total = len(rows)
    if facts is None:
        return []
    facts = facts[np.isin(facts["ligne"].to_numpy(), rows.index.to_numpy())]
    known, sme_share = facts["known"], facts["pme"]

    def money(selected: pd.DataFrame) -> pd.Series:
        """Amounts of the selected contracts, by uid, in the facts' (uid) order."""
        return pd.Series(rows["_montant"].reindex(selected["ligne"].to_numpy()).array, index=selected.index)

    known_money, all_money = money(facts[known.to_numpy(dtype=bool)]), money(facts)
    known_uids = known_money.index
    covered_amount = known_money.notna().sum()
    sme_amount = (all_money * sme_share).sum()
    denominator = known_money.sum()
    measures = [
        _share("part_nombre_pme", "marches", (sme_share.reindex(known_uids) > 0).sum(), len(known_uids),
               len(known_uids), total),
        _share("part_montant_pme", "euros", sme_amount if denominator else 0.0, denominator, covered_amount, total),
    ]
    if innovative_smes is not None:
        flagged = facts["inn"]
        measures += [
            _share("part_nombre", "marches", (flagged > 0).sum(), len(rows), len(flagged), total),
            _share("part_montant", "euros", (all_money * flagged).sum(), rows["_montant"].sum(),
                   all_money.notna().sum(), total),
        ]
    return measures


def _quality_measures(rows: pd.DataFrame) -> list[dict]:
    total = len(rows)
    format_2024 = rows["format_source"].astype("string").str.startswith("decp-2024", na=False) \
        if "format_source" in rows else pd.Series(False, index=rows.index)
    missing = format_2024 & rows["_declare"].isna()
    return [
        _share("part_declare_manquant", "marches", missing.sum(), format_2024.sum(), format_2024.sum(), total),
        _share("montants_aberrants_exclus", "marches", rows["_aberrant"].sum(), total, total, total),
    ]


def method_label(scope_methods: pd.Series | None = None) -> str:
    parts = [f"classification {METHOD_VERSION}", "montants attribues (maximums des accords-cadres), pas des paiements",
             f"montants hors [{AMOUNT_MIN:.0f}; {AMOUNT_MAX:.0f}] euros exclus des mesures en euros"]
    if scope_methods is not None and len(scope_methods):
        counts = scope_methods.fillna("inconnu").value_counts()
        parts.append("perimetre: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return "; ".join(parts)


def compute_indicators(marches: pd.DataFrame, titulaires: pd.DataFrame | None = None,
                       innovative_smes: set[str] | None = None) -> pd.DataFrame:
    """Every indicator row for the years present in ``marches`` (contracts without a year are not attributed)."""
    frame = _prepared(marches)
    frame.index = pd.RangeIndex(len(frame))  # row numbers: what groups and supplier facts are matched on
    supplier_facts = _supplier_facts(titulaires, innovative_smes, frame)
    columns = _Columns(frame)
    categories_of = {dimension: pd.factorize(frame[dimension].astype("string").fillna(NOT_GIVEN), sort=True)
                     for dimension in BREAKDOWNS}
    # Years are cut from the columns read per year only (the breakdowns read ``columns`` and ``categories_of``).
    narrow = frame[[name for name in _PER_YEAR if name in frame]]
    records: list[dict] = []
    for scope, categories in SCOPES.items():
        in_scope = narrow if categories is None else narrow[narrow["acheteur_categorie"].isin(categories)]
        for year, rows in in_scope.groupby("annee", sort=True):
            at = rows.index.to_numpy()
            method = method_label(rows.get("acheteur_categorie_source"))
            base = {"annee": int(year), "perimetre": scope, "ventilation": ALL, "modalite": ALL,
                    "nb_marches": len(rows), "methode": method}
            for m in _object_measures(columns, at):
                records.append({**base, "famille": "objet_innovant", "cible": TARGET_OBJECT, **m})
            supplier_target = TARGET_SUPPLIER_2027 if int(year) >= SUPPLIER_2027_FROM else TARGET_SUPPLIER_2020
            for m in _supplier_measures(rows, supplier_facts, innovative_smes):
                records.append({**base, "famille": "fournisseur_innovant", "cible": supplier_target, **m})
            for m in _quality_measures(rows):
                records.append({**base, "famille": "qualite_donnees", "cible": None, **m})
            records += _breakdowns(rows, at, base, columns, categories_of)
    out = pd.DataFrame.from_records(records, columns=COLUMNS)
    if out.empty:
        return out
    order = ["annee", "perimetre", "famille", "ventilation", "modalite", "mesure"]
    return out.sort_values(order, kind="stable").reset_index(drop=True)


NOT_GIVEN = "non renseigne"
_PER_YEAR = ("annee", "acheteur_categorie", "acheteur_categorie_source", "acheteur_id", "format_source", "_montant",
             "_innovant", "_declare", "_aberrant")


def _groups(codes: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(code, positions) of each code present, by code; positions ascending."""
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0]) if len(order) else np.array([], dtype=int)
    return [(int(codes[order[start]]), order[start:end]) for start, end in zip(starts, [*starts[1:], len(order)])]


def _breakdowns(rows: pd.DataFrame, at: np.ndarray, base: dict, columns: _Columns,
                categories_of: dict[str, tuple[np.ndarray, pd.Index]]) -> list[dict]:
    """``at``: the rows' numbers in the prepared frame; ``categories_of``: each breakdown's (codes, categories)
    over that frame, categories sorted as groupby sorts them."""
    records = []
    for dimension in BREAKDOWNS:
        codes, categories = categories_of[dimension]
        for code, positions in _groups(codes[at]):
            for m in _object_measures(columns, at[positions], declared=False):
                records.append({**base, "ventilation": dimension, "modalite": str(categories[code]),
                                "nb_marches": len(positions), "famille": "objet_innovant", "cible": TARGET_OBJECT,
                                **m})
    # Top buyers by innovative amount (only buyers with some innovative amount are ranked).
    money = rows["_montant"].notna()
    innovative_amount = rows[rows["_innovant"] & money].groupby("acheteur_id")["_montant"].sum()
    # Positions per buyer (groupby.get_group misses the only group of a one-row frame in pandas 3.1).
    by_buyer = rows.groupby("acheteur_id").indices
    for buyer in innovative_amount.sort_values(ascending=False, kind="stable").head(TOP_BUYERS).index:
        positions = by_buyer[buyer]
        for m in _object_measures(columns, at[positions], declared=False):
            records.append({**base, "ventilation": "acheteur", "modalite": str(buyer), "nb_marches": len(positions),
                            "famille": "objet_innovant", "cible": TARGET_OBJECT, **m})
    return records
