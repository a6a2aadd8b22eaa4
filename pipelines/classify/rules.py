"""Rule engine: decides for each record whether it is an innovative purchase ("achat innovant") and why.

French law (CCP L2172-3) calls innovative the works, supplies or services that are "nouveaux ou
sensiblement améliorés". No field says so reliably. The decision therefore combines weighted signals
(catalogue and weights: signals.py) with a noisy-OR, score = 1 - prod(1 - w_i), rounded to 3 decimals, and
`innovant` = score >= THRESHOLD (0.5). Noisy-OR keeps the score in [0, 1], lets one strong signal decide
alone, and lets two independent weak signals add up without a cap.

What the real samples showed (tests/test_classify.py re-checks the figures that matter):
- AIFE 2019 flattened CSV (8,286 State contracts, no innovation field).
  - "innov": 23 objets (14 distinct). Nearly all are contexts, not innovative purchases:
    - themes of consultancy or training: innovation sociale, innovation managériale;
    - a buyer name: "ministère ... de la recherche et de l'innovation", twice with the apostrophe lost
      ("linnovation");
    - a regulatory term: "médicaments de thérapie innovante";
    - programmes: "programme européen qui développe la recherche et l'innovation", "dispositif d'innovation
      en santé dit Article 51";
    - IT supplies: "salles innovantes", "Solutions pédagogiques innovantes".
  - "expérimentation" and its forms: 33 rows. 9 of them are works lots of one INRA building in Mirecourt,
    "destiné à la recherche et à l'expérimentation pour l'élevage". Others are "expérimentation animale",
    "zone d'expérimentation de rongeurs", "station expérimentale", "médicaments expérimentaux", and one
    "cadre expérimenté" (= experienced). The rest are plausible but vague: "l'expérimentation et le
    développement d'une plate-forme collaborative", "phase d'expérimentation sur 2 territoires tests".
  - "prototype": 7 rows. "Fabrication d'un prototype de générateur ..." (twice), "développement ... dans le
    prototype MET-GATE" and "appareil prototype de polarisation" are the making of new artefacts.
    "prototypage" names prototyping machines bought as lab tools.
  - "pilote": 8 rows, all pilot-scale lab plants, aircraft pilots or "piloter". None is a pilot project.
  - "R&D": 1 row, the organisation of a "Conférence R&D Management".
  - "intelligence artificielle": none in the part of the file we can see. "apprentissage profond" and
    "deep learning": 1 row each.
  - CPV 73: 18 rows, mostly laboratory analyses, sequencing and technical assistance.
  - The R2122-9-1 legal pattern (no publicity, 0 < montant < 100 k€, notified on or after 2018-12-25):
    82 rows, all ordinary small purchases (software maintenance, vehicles, books). Hence its low weight.
  - Result with v1: 6 innovant (0.07 %). Signals fired: texte_prototype 5, texte_moyen 21, texte_ia 2,
    cpv_rd 18, r2122_9_1 82, garde_faux_positif 40.
- DECP 2024 JSON (961 marchés visible). The 23 records declared `marcheInnovant` = true are all mundane:
  painting vouchers, waste collection, school restructuring lots, cleaning. None of their objets carries a
  text signal, so none is innovant. r2122_9_1 fires on 10 records, none of them declared innovant.
- decp.info tabular works extract (8,957 rows, CPV 4521, no objet): 0 innovant, r2122_9_1 on 89 rows.
Hence:
- medium words alone stay below the threshold;
- the vocabulary of R&D deliverables (prototype, démonstrateur, preuve de concept) decides alone;
- guards neutralise names, boilerplate and themes.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from . import keywords
from .signals import ORDER, RULES_VERSION, SIGNALS, THRESHOLD

OUTPUT_COLUMNS = ("innovant", "innovation_score", "innovation_signaux")

R2122_9_1_START = pd.Timestamp("2018-12-25")  # décret n° 2018-1225, art. 1 (experiment), made permanent in 2021
R2122_9_1_CEILING = 100_000.0  # euros HT, strictly below

# Labels of awards without publicity: DECP 2024 "Marché passé sans publicité ni mise en concurrence
# préalable", DECP 2019 "Marché public négocié sans publicité ...", eForms "neg-wo-call".
_NO_PUBLICITY = r"sans\s+publicit|neg-wo-call|without\s+(?:a\s+)?prior\s+(?:call|publication)"

# CPV division 73 (R&D services), written "73100000-3", "73100000" or 73100000.0. A 7-digit code lost its
# leading zero ("9310000" is 09310000), so it is never division 73.
_CPV_RD = r"^\s*73\d{6}(?:\.0+)?(?:\s*-\s*\d)?\s*$"

_TRUE_TOKENS = ["true", "1", "1.0", "oui", "yes", "vrai"]
_FALSE_TOKENS = ["false", "0", "0.0", "non", "no", "faux"]

_STRUCTURED_SPLIT = "|"
_DECLARED_FALSE = "declare_non_innovant"


V2_CODES = ("texte_experimentation", "texte_conception", "texte_rd_livrable")


def classify(df: pd.DataFrame, version: str = RULES_VERSION) -> pd.DataFrame:
    """Return `innovant`, `innovation_score`, `innovation_signaux` for each row of `df` (same index).

    `version="regles-v1"` switches off the text signals added in v2 (a baseline for the evaluation).

    `nature` is accepted but not used by v1: no DECP nature marks innovation, and "Marché de partenariat"
    is a public-private partnership, not a partenariat d'innovation.
    """
    n = len(df)
    fired = {code: np.zeros(n, dtype=bool) for code in ORDER}

    tiers = keywords.scan_series(_column(df, "objet"))
    fired["garde_faux_positif"] = _has(tiers, "guard")
    fired["texte_fort"] = _has(tiers, "fort")
    fired["texte_prototype"] = _has(tiers, "prototype")
    fired["texte_experimentation"] = _has(tiers, "experimentation")
    fired["texte_conception"] = _has(tiers, "conception")
    fired["texte_rd_livrable"] = _has(tiers, "rd_livrable")
    families = sum(_has(tiers, tier).astype(np.int8) for tier in keywords.MEDIUM)
    fired["texte_moyen"] = families >= 1
    fired["texte_moyen_cumul"] = families >= 2
    fired["texte_ia"] = _has(tiers, "ia")

    fired["cpv_rd"] = keywords.search_raw(_column(df, "code_cpv"), _CPV_RD)
    fired["r2122_9_1"] = _r2122_9_1(df)

    declared_true, declared_false = declared_flags(df)
    fired["declare_innovant"] = declared_true
    fired[_DECLARED_FALSE] = declared_false

    for code, mask in _structured(_column(df, "structured_signals")).items():
        fired[code] = fired[code] | mask
    if version == "regles-v1":  # the baseline the evaluation reports: v1 had no v2 text signals
        for code in V2_CODES:
            fired[code][:] = False

    score, labels = _combine(fired)
    return pd.DataFrame(
        {
            "innovant": score >= THRESHOLD,
            "innovation_score": score,
            "innovation_signaux": pd.Series(labels, dtype="str"),
        },
        columns=list(OUTPUT_COLUMNS),
    ).set_axis(df.index, axis=0)


def score_codes(codes: list[str] | set[str]) -> float:
    """Noisy-OR of the weights of `codes`, rounded as published: 1 - prod(1 - w)."""
    keep = 1.0
    for code in codes:
        keep *= 1.0 - SIGNALS[code][1]
    return round(1.0 - keep, 3)


def _combine(fired: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    # Few distinct combinations of codes occur, so score and label are computed once per combination.
    bits = np.zeros(len(next(iter(fired.values()))), dtype=np.int64)
    for i, code in enumerate(ORDER):
        bits |= fired[code].astype(np.int64) << i
    combos, inverse = np.unique(bits, return_inverse=True)
    codes = [[code for i, code in enumerate(ORDER) if combo >> i & 1] for combo in combos.tolist()]
    scores = np.array([score_codes(c) for c in codes], dtype=np.float64)
    # A "false" declaration only explains something when the decision goes against it; otherwise it would
    # fill the column of nearly every 2024 record while `marche_innovant_declare` already publishes it.
    codes = [c if s >= THRESHOLD else [x for x in c if x != _DECLARED_FALSE] for c, s in zip(codes, scores)]
    labels = np.array(["|".join(c) for c in codes], dtype=object)
    inverse = inverse.ravel()
    return scores[inverse], labels[inverse].tolist()


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    # Absent columns behave as all-missing values.
    if name in df.columns:
        return df[name].reset_index(drop=True)
    return pd.Series([None] * len(df), dtype=object)


def _has(tiers: np.ndarray, tier: str) -> np.ndarray:
    return (tiers & keywords.BIT[tier]) != 0


def _r2122_9_1(df: pd.DataFrame) -> np.ndarray:
    no_publicity = keywords.search_raw(_column(df, "procedure"), _NO_PUBLICITY)
    amount = pd.to_numeric(_column(df, "montant"), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    in_band = (amount > 0) & (amount < R2122_9_1_CEILING)  # NaN compares False
    notified = _dates(_column(df, "date_notification"))
    since = (notified >= R2122_9_1_START).to_numpy(dtype=bool, na_value=False)
    return no_publicity & in_band & since


def _dates(values: pd.Series) -> pd.Series:
    # Datetimes (naive or tz-aware), dates, ISO strings with or without time/offset; anything else is NaT.
    # The local calendar date counts, as written by the buyer: "2018-12-25+01:00" is the 25th.
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_localize(None)
        return values.astype("datetime64[ns]")
    day = values.astype("str").str.slice(0, 10)
    return pd.to_datetime(day, format="%Y-%m-%d", errors="coerce")


def declared_flags(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(declared true, declared false) from `marche_innovant_declare`; missing is neither."""
    return _declared(_column(df, "marche_innovant_declare"))


def _declared(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    if pd.api.types.is_bool_dtype(values.dtype):
        flags = values.astype("boolean")
        return flags.fillna(False).to_numpy(dtype=bool), (~flags).fillna(False).to_numpy(dtype=bool)
    tokens = values.astype("str").str.strip().str.lower()
    return tokens.isin(_TRUE_TOKENS).to_numpy(dtype=bool), tokens.isin(_FALSE_TOKENS).to_numpy(dtype=bool)


def _structured(values: pd.Series) -> dict[str, np.ndarray]:
    """Known codes found in the `|`-separated column; unknown codes are reported once and ignored."""
    text = values.astype("str").fillna("")
    present = (text.str.strip() != "").to_numpy(dtype=bool)
    positions = np.flatnonzero(present)
    masks: dict[str, np.ndarray] = {}
    if not len(positions):
        return masks
    unknown: set[str] = set()
    for pos, raw in zip(positions.tolist(), text.to_numpy(dtype=object)[positions].tolist()):
        for code in raw.split(_STRUCTURED_SPLIT):
            code = code.strip()
            if not code:
                continue
            if code not in SIGNALS:
                unknown.add(code)
                continue
            masks.setdefault(code, np.zeros(len(text), dtype=bool))[pos] = True
    if unknown:
        warnings.warn(
            f"structured_signals: codes inconnus ignorés (absents de SIGNALS): {sorted(unknown)[:10]}",
            stacklevel=3,
        )
    return masks
