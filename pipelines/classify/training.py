"""Train the text model and the combination, and cross-validate the decision on the labelled set.

Data: every record of the real files (contracts and notices) with a non-empty objet, one per distinct
normalised text. The labelled set (labels/etiquettes.csv) gives gold labels; every other record gives a weak
label, the rules' decision (which reads the structured codes and the buyer's declaration), with a small weight.

Cross-validation is grouped and nested so that no record scores itself:
- folds are grouped by the start of the normalised objet, so the lots of one operation ("… - Lot 3 : …") stay
  in one fold;
- for each held-out fold, the text model is trained on the other folds' labels plus the weak labels of records
  outside the held-out groups; the combination is fitted on text logits produced by an inner cross-validation
  of those training folds, as the shipped combination is.
The shipped model is fitted the same way on the whole labelled set.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import keywords, rules
from .decision import Combination, combined_score, features, sigmoid
from .signals import METHOD_VERSION, RULES_VERSION, THRESHOLD
from .text_model import TextModel, vectorizer

LABELS_PATH = Path(__file__).parent / "labels" / "etiquettes.csv"
LABEL_COLUMNS = ("cle", "source", "strate", "etiquette", "certitude", "motif")

# Training choices, fixed before measuring (changing one is a new model version, reported on the card).
C_TEXT = 4.0  # inverse L2 strength of the text model: texts are short, the vocabulary large
C_COMBINATION = 1.0
WEAK_WEIGHT = 0.2  # a weak label counts for a fifth of a gold one
MIN_DF = 2  # a term seen once cannot generalise; it would only memorise its record
GROUP_PREFIX = 45  # characters of normalised objet that name an operation shared by its lots
FOLDS = 5
REPEATS = 3
SEED = 20261126

SOURCE_FAMILIES = {
    "decp-2019": "DECP 2019",
    "decp-2024": "DECP 2024",
    "decp-tabulaire": "DECP tabulaire",
    "boamp": "BOAMP",
    "ted": "TED",
}

# §3.2 of the research note, as a naive dictionary (no guard, no weight): the "keywords alone" baseline.
NAIVE_KEYWORDS = (
    r"partenariat d.?innovation|achats? innovants?|marches? innovants?|solutions? innovantes?|r\.? ?2122-9-1"
    r"|l\.? ?2172-3|avant commercialisation|pre-?commercia|innovant|innovation|prototyp|demonstrateur"
    r"|preuve de concept|\bpoc\b|pilote|experimentation|experimental|recherche et developpement|r ?& ?d\b|\btrl\b"
    r"|co-?developpement|start-?up|jeune entreprise innovante|intelligence artificielle"
)


class LabelError(ValueError):
    pass


def source_family(format_source: pd.Series) -> pd.Series:
    text = format_source.astype("str").fillna("")
    out = pd.Series("autre", index=format_source.index, dtype=object)
    for prefix, family in SOURCE_FAMILIES.items():
        out[text.str.startswith(prefix).to_numpy(dtype=bool)] = family
    return out


def load_corpus(real_dir: Path) -> pd.DataFrame:
    """One row per distinct objet of the real files, with what the baselines and the weak labels need."""
    from ..pipeline import ingest, normalize  # the pipeline imports classify: import at call time

    if not Path(real_dir).is_dir():
        raise FileNotFoundError(f"{real_dir} : dossier des données réelles introuvable (ACHATS_REAL_DATA)")
    normalized = normalize(ingest([real_dir]))
    marches = normalized.marches.assign(cle="marche:" + normalized.marches["uid"].astype("str"))
    avis = normalized.avis.assign(cle="avis:" + normalized.avis["id_avis"].astype("str"),
                                  structured_signals=normalized.avis.get("structured_signals"))
    columns = ["cle", "format_source", "objet", "code_cpv", "procedure", "montant", "date_notification",
               "marche_innovant_declare", "structured_signals"]
    frames = [frame.reindex(columns=columns) for frame in (marches, avis)]
    records = pd.concat(frames, ignore_index=True)
    records["texte"] = records["objet"].map(keywords.normalise)
    records = records[records["texte"] != ""].drop_duplicates("texte").reset_index(drop=True)
    by_rules = rules.classify(records)
    by_rules_v1 = rules.classify(records, version="regles-v1")
    declared_true, _ = rules.declared_flags(records)
    return pd.DataFrame({
        "cle": records["cle"].astype(str),
        "source": source_family(records["format_source"]),
        "objet": records["objet"].astype(object),
        "texte": records["texte"],
        "groupe": records["texte"].str.slice(0, GROUP_PREFIX),
        "score_regles": by_rules["innovation_score"].to_numpy(dtype=np.float64),
        "signaux_regles": by_rules["innovation_signaux"].astype(str).to_numpy(),
        "regles": by_rules["innovation_score"].to_numpy(dtype=np.float64) >= THRESHOLD,
        "regles_v1": by_rules_v1["innovation_score"].to_numpy(dtype=np.float64) >= THRESHOLD,
        "mots_cles": records["texte"].str.contains(NAIVE_KEYWORDS, regex=True).to_numpy(dtype=bool),
        "declare": declared_true,
    })


def read_labels(path: Path = LABELS_PATH) -> pd.DataFrame:
    try:
        labels = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError) as exc:
        raise LabelError(f"{path} : étiquettes illisibles ({exc})") from exc
    missing = [c for c in LABEL_COLUMNS if c not in labels.columns]
    problems = [f"colonnes absentes : {', '.join(missing)}"] if missing else []
    if not missing:
        if labels["cle"].duplicated().any():
            problems.append(f"clés en double : {', '.join(labels.loc[labels['cle'].duplicated(), 'cle'][:5])}")
        if not labels["etiquette"].isin(["0", "1"]).all():
            problems.append("etiquette hors de {0, 1}")
        if not labels["certitude"].isin(["haute", "faible"]).all():
            problems.append("certitude hors de {haute, faible}")
        if (labels["motif"].str.strip() == "").any():
            problems.append(f"{int((labels['motif'].str.strip() == '').sum())} lignes sans motif")
    if problems:
        raise LabelError(f"{path} : " + " ; ".join(problems))
    return labels.assign(etiquette=labels["etiquette"].astype(int))


def attach_labels(corpus: pd.DataFrame, labels: pd.DataFrame, max_missing: float = 0.02) -> pd.DataFrame:
    """The labelled records with their corpus features; fails when the real files do not hold the labelled set."""
    merged = labels.drop(columns=["source"]).merge(corpus, on="cle", how="inner", validate="one_to_one")
    absent = len(labels) - len(merged)
    if absent > max_missing * len(labels):
        raise LabelError(f"{absent} des {len(labels)} enregistrements étiquetés sont absents des données réelles "
                         "lues : ce ne sont pas les fichiers sur lesquels le jeu a été étiqueté")
    return merged.reset_index(drop=True)


# --- fitting ------------------------------------------------------------------------------------------------


def _balanced_weights(y: np.ndarray, base: np.ndarray) -> np.ndarray:
    # Positives are rare: weight the classes so each carries half of the total weight.
    weights = base.astype(np.float64).copy()
    for value in (0, 1):
        mask = y == value
        total = weights[mask].sum()
        if total > 0:
            weights[mask] *= 0.5 * base.sum() / total
    return weights


def fit_text(texts: list[str], y: np.ndarray, base_weight: np.ndarray, facts: dict | None = None) -> TextModel:
    from sklearn.linear_model import LogisticRegression

    vec = vectorizer(min_df=MIN_DF)
    matrix = vec.fit_transform(texts)
    classifier = LogisticRegression(C=C_TEXT, solver="liblinear", max_iter=1000, random_state=0)
    classifier.fit(matrix, y, sample_weight=_balanced_weights(y, base_weight))
    return TextModel.from_fitted(vec, classifier, facts)


def _training_set(labelled: pd.DataFrame, weak: pd.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray]:
    texts = labelled["texte"].tolist() + weak["texte"].tolist()
    y = np.concatenate([labelled["etiquette"].to_numpy(dtype=int), weak["regles"].to_numpy(dtype=int)])
    base = np.concatenate([np.ones(len(labelled)), np.full(len(weak), WEAK_WEIGHT)])
    return texts, y, base


def _text_logits(train: pd.DataFrame, weak: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    held_out = set(test["groupe"])
    weak = weak[~weak["groupe"].isin(held_out)]
    model = fit_text(*_training_set(train, weak))
    return model.logits(test["texte"])


def _folds(labelled: pd.DataFrame, folds: int, seed: int) -> np.ndarray:
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    assignment = np.full(len(labelled), -1)
    for k, (_, test) in enumerate(splitter.split(labelled, labelled["etiquette"], labelled["groupe"])):
        assignment[test] = k
    return assignment


def _oof_logits(labelled: pd.DataFrame, weak: pd.DataFrame, folds: int, seed: int) -> np.ndarray:
    assignment = _folds(labelled, folds, seed)
    logits = np.zeros(len(labelled))
    for k in range(folds):
        test = assignment == k
        logits[test] = _text_logits(labelled[~test], weak, labelled[test])
    return logits


def fit_combination(score_regles: np.ndarray, text_logit: np.ndarray, y: np.ndarray) -> Combination:
    from sklearn.linear_model import LogisticRegression

    alone = LogisticRegression(C=C_COMBINATION, max_iter=1000)
    alone.fit(text_logit.reshape(-1, 1), y)
    text_alone = (float(alone.coef_[0][0]), float(alone.intercept_[0]))
    boundary = Combination(0.0, 0.0, 0.0, 0.0, text_alone).text_boundary
    both = LogisticRegression(C=C_COMBINATION, max_iter=1000)
    both.fit(features(score_regles, text_logit, boundary), y)
    a, b, c = (float(w) for w in both.coef_[0])
    return Combination(a, b, c, float(both.intercept_[0]), text_alone)


def _weak_pool(corpus: pd.DataFrame, labelled: pd.DataFrame) -> pd.DataFrame:
    return corpus[~corpus["cle"].isin(labelled["cle"]) & ~corpus["texte"].isin(labelled["texte"])]


@dataclass
class Fitted:
    model: TextModel
    combination: Combination


def fit(corpus: pd.DataFrame, labelled: pd.DataFrame, seed: int = SEED) -> Fitted:
    """The model that ships: text model on every label, combination on cross-validated text logits."""
    weak = _weak_pool(corpus, labelled)
    combination = fit_combination(labelled["score_regles"].to_numpy(), _oof_logits(labelled, weak, FOLDS, seed),
                                  labelled["etiquette"].to_numpy())
    model = fit_text(*_training_set(labelled, weak))
    model.facts = {
        "version_methode": METHOD_VERSION,
        "version_regles": RULES_VERSION,
        "combinaison": combination.to_facts(),
        "entrainement": {
            "etiquettes": int(len(labelled)),
            "positifs": int(labelled["etiquette"].sum()),
            "etiquettes_faibles": int(len(weak)),
            "positifs_faibles": int(weak["regles"].sum()),
            "poids_etiquette_faible": WEAK_WEIGHT,
            "c_texte": C_TEXT,
            "min_df": MIN_DF,
            "termes": len(model.vocabulary),
            "empreinte_etiquettes": _fingerprint(labelled),
        },
    }
    return Fitted(model, combination)


def cross_validate(corpus: pd.DataFrame, labelled: pd.DataFrame, repeats: int = REPEATS, folds: int = FOLDS,
                   seed: int = SEED) -> pd.DataFrame:
    """Out-of-fold predictions for every labelled record and every repeat (column `repetition`)."""
    weak_all = _weak_pool(corpus, labelled)
    y = labelled["etiquette"].to_numpy()
    runs = []
    for repeat in range(repeats):
        assignment = _folds(labelled, folds, seed + repeat)
        score = np.zeros(len(labelled))
        text_alone = np.zeros(len(labelled))
        for k in range(folds):
            test = assignment == k
            train = labelled[~test]
            weak = weak_all[~weak_all["groupe"].isin(set(labelled.loc[test, "groupe"]))]
            combination = fit_combination(train["score_regles"].to_numpy(),
                                          _oof_logits(train, weak, folds, seed + repeat), y[~test])
            logits = _text_logits(train, weak, labelled[test])
            score[test] = np.round(combined_score(labelled.loc[test, "score_regles"].to_numpy(), logits,
                                                  combination), 3)
            text_alone[test] = sigmoid(combination.text_alone[0] * logits + combination.text_alone[1])
        runs.append(labelled.assign(repetition=repeat, pli=assignment, score=score, final=score >= THRESHOLD,
                                    score_modele=text_alone, modele=text_alone >= THRESHOLD))
    return pd.concat(runs, ignore_index=True)


def _fingerprint(labelled: pd.DataFrame) -> str:
    rows = labelled.sort_values("cle")[["cle", "etiquette"]].astype(str).agg(",".join, axis=1)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]
