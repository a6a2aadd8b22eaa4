"""The published decision: rules and text model combined into one calibrated `innovation_score`.

score = sigmoid(a · [rules say innovant] + b · logit(rules score) + c · max(0, text logit − t0) + d), with a, b,
c, d fitted by logistic regression on the labelled set, on text logits that the text model produced for records it had not seen (cross-validation): the
score is a probability calibrated on the labelled set, and `innovant` = score >= 0.5. The rules' noisy-OR
(rules.py) stays the first feature, so a structured code or a legal phrase keeps deciding; the text model adds
what the vocabulary of the rules does not list. It only adds evidence: its term counts from t0, the logit at
which the text model alone, calibrated, would say innovant, so a text the model does not recognise (most texts,
and most positives: it learnt from a few dozen) never vetoes the rules. A conclusive rules score (>= 0.8: a
structured innovation code, a legal phrase) is moreover a floor the combination cannot lower.

Signal codes keep saying why: the rule codes that fired, plus
- `modele_texte` when the text model alone, calibrated, would call the purchase innovative (its term is > 0).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import rules
from .signals import ORDER, THRESHOLD
from .text_model import TextModel

MODEL_PATH = Path(__file__).parent / "model" / "modele-texte.json.gz"
OUTPUT_COLUMNS = rules.OUTPUT_COLUMNS

# A rules score this high means a structured innovation code (partenariat d'innovation, eForms BT-06/BT-776), a
# legal phrase, or several corroborating signals: by law or by the buyer's own coding the purchase is innovative,
# and a text model trained on a few dozen positives must not overrule that. Such records are too rare in the
# labelled set for the fitted combination to learn it.
CONCLUSIVE = 0.8

# Noisy-OR scores are 0 for most records and reach 1 only in theory: clip before taking log-odds.
RULES_CLIP = (0.01, 0.99)


@dataclass(frozen=True)
class Combination:
    rules_decision: float  # weight of "the rules alone say innovant" (0/1)
    rules: float  # weight of logit(rules score)
    text: float  # weight of the text logit
    constant: float
    text_alone: tuple[float, float]  # calibration of the text logit on its own: (slope, constant)

    @property
    def text_boundary(self) -> float:
        """t0: the text logit at which the text model alone reaches probability 0.5."""
        slope, constant = self.text_alone
        return -constant / slope if slope > 0 else float("inf")

    @classmethod
    def from_facts(cls, facts: dict) -> Combination:
        c = facts["combinaison"]
        return cls(float(c["decision_regles"]), float(c["regles"]), float(c["texte"]), float(c["constante"]),
                   (float(c["texte_seul"][0]), float(c["texte_seul"][1])))

    def to_facts(self) -> dict:
        return {"decision_regles": round(self.rules_decision, 6), "regles": round(self.rules, 6),
                "texte": round(self.text, 6), "constante": round(self.constant, 6),
                "texte_seul": [round(self.text_alone[0], 6), round(self.text_alone[1], 6)]}


def features(rules_score: np.ndarray, text_logit: np.ndarray, text_boundary: float) -> np.ndarray:
    """The combination's inputs: the rules' decision, their score as log-odds, the text evidence beyond t0."""
    rules_score = np.asarray(rules_score, dtype=np.float64)
    text_evidence = np.maximum(np.asarray(text_logit, dtype=np.float64) - text_boundary, 0.0)
    return np.column_stack([(rules_score >= THRESHOLD).astype(np.float64), rules_logit(rules_score), text_evidence])


def rules_logit(score: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(score, dtype=np.float64), *RULES_CLIP)
    return np.log(clipped / (1.0 - clipped))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def combined_score(rules_score: np.ndarray, text_logit: np.ndarray, combination: Combination) -> np.ndarray:
    """The calibrated probability, floored by the rules' score where the rules alone are conclusive."""
    rules_score = np.asarray(rules_score, dtype=np.float64)
    weights = np.array([combination.rules_decision, combination.rules, combination.text])
    z = features(rules_score, text_logit, combination.text_boundary) @ weights + combination.constant
    return np.where(rules_score >= CONCLUSIVE, np.maximum(sigmoid(z), rules_score), sigmoid(z))


def model_path() -> Path:
    # An operator can try a retrained model without reinstalling; the shipped one is the default.
    return Path(os.environ.get("ACHATS_MODEL_PATH") or MODEL_PATH)


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> tuple[TextModel, Combination]:
    model = TextModel.load(Path(path))
    return model, Combination.from_facts(model.facts)


def shipped_model() -> tuple[TextModel, Combination]:
    path = model_path()
    if not path.is_file():
        raise FileNotFoundError(f"{path} : modèle de texte absent (réinstaller le paquet ou `achats-innovants train`)")
    return _load(str(path), path.stat().st_mtime)


def method_version() -> str:
    model, _ = shipped_model()
    return model.facts.get("version_methode", "inconnue")


def prescore(texts: pd.Series, folder: Path, table: str, stop):
    """The shipped model's logits of the distinct ``texts`` the cache ``folder`` lacks, until ``stop`` is set
    (logit_cache.prescore), for ``classify(..., scored=)``."""
    from .logit_cache import cache_key, prescore as scores_until_stopped

    text_model, _ = shipped_model()
    return scores_until_stopped(text_model, texts, folder, cache_key(text_model.digest), table, stop)


def classify(df: pd.DataFrame, model: tuple[TextModel, Combination] | None = None,
             cache: tuple[Path, str] | None = None, scored=None) -> pd.DataFrame:
    """`innovant`, `innovation_score`, `innovation_signaux` for each row of `df` (same index, same order).

    ``cache``: (folder, table name) where the shipped model's logits of the previous run are reused
    (logit_cache), with those of ``scored`` (``prescore``); both ignored with another ``model``."""
    text_model, combination = model or shipped_model()
    by_rules = rules.classify(df)
    objets = df["objet"] if "objet" in df.columns else pd.Series([None] * len(df), dtype=object)
    objets = objets.reset_index(drop=True)
    if cache is not None and model is None and text_model.digest:
        from .logit_cache import cache_key, cached_logits

        text = cached_logits(text_model, objets, cache[0], cache_key(text_model.digest), cache[1],
                             scored=scored)
    else:
        text = text_model.logits(objets)
    _, declared_false = rules.declared_flags(df)
    return combine(by_rules, text, combination, declared_false)


def combine(by_rules: pd.DataFrame, text_logit: np.ndarray, combination: Combination,
            declared_false: np.ndarray | None = None) -> pd.DataFrame:
    rules_score = by_rules["innovation_score"].to_numpy(dtype=np.float64)
    score = np.round(combined_score(rules_score, text_logit, combination), 3)
    decided = score >= THRESHOLD
    text_says = np.asarray(text_logit) > combination.text_boundary
    if declared_false is None:
        declared_false = np.zeros(len(score), dtype=bool)
    labels = _labels(by_rules["innovation_signaux"], text_says, decided & declared_false)
    return pd.DataFrame(
        {"innovant": decided, "innovation_score": score, "innovation_signaux": pd.Series(labels, dtype="str")},
        columns=list(OUTPUT_COLUMNS),
    ).set_axis(by_rules.index, axis=0)


_EXTRA = ("modele_texte", "declare_non_innovant")


def _labels(rule_labels: pd.Series, text_says: np.ndarray, against_declaration: np.ndarray) -> list[str]:
    """Rule codes plus the model's codes; `declare_non_innovant` only where the final decision goes against the
    buyer's "false" (the rules record it against their own decision, which may differ)."""
    label_codes, label_values = pd.factorize(rule_labels.reset_index(drop=True).fillna(""), sort=False)
    key = (label_codes.astype(np.int64) << 2) | (text_says.astype(np.int64) << 1) | against_declaration.astype(np.int64)
    combos, inverse = np.unique(key, return_inverse=True)
    texts = []
    for combo in combos.tolist():
        label = label_values[combo >> 2]
        codes = {c for c in label.split("|") if c} - {"declare_non_innovant"}
        codes |= {code for bit, code in zip((combo >> 1 & 1, combo & 1), _EXTRA) if bit}
        texts.append("|".join(sorted(codes, key=ORDER.index)))
    return np.asarray(texts, dtype=object)[inverse.ravel()].tolist()
