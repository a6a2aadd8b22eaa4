"""`achats-innovants evaluate` and `train`: cross-validated figures on the labelled set, and the shipped model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import evaluation, training
from .decision import MODEL_PATH


@dataclass
class Evaluation:
    oof: pd.DataFrame
    card: dict
    text: str


def _labelled(real_dir: Path, labels_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    corpus = training.load_corpus(real_dir)
    return corpus, training.attach_labels(corpus, training.read_labels(labels_path))


def evaluate(real_dir: Path, labels_path: Path = training.LABELS_PATH, repeats: int = training.REPEATS,
             folds: int = training.FOLDS, facts: dict | None = None,
             data: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> Evaluation:
    corpus, labelled = data or _labelled(real_dir, labels_path)
    oof = training.cross_validate(corpus, labelled, repeats=repeats, folds=folds)
    if facts is None:
        from .decision import shipped_model

        facts = shipped_model()[0].facts
    unlabelled = corpus[~corpus["cle"].isin(labelled["cle"])]
    card = evaluation.card(oof, facts, folds, repeats, unlabelled)
    mistakes = evaluation.worst_mistakes(oof)
    text = "\n".join([
        f"Jeu étiqueté : {len(labelled)} enregistrements, {int(labelled['etiquette'].sum())} innovants ; "
        f"{card['validation']}.",
        "",
        evaluation.render_metrics(evaluation.metrics(oof)),
        "",
        "Matrice de confusion (décision publiée, première répétition) :",
        evaluation.confusion(oof).to_markdown(),
        "",
        "Pires erreurs :",
        mistakes.assign(objet=mistakes["objet"].astype(str).str.slice(0, 110)).to_markdown(index=False),
    ])
    return Evaluation(oof, card, text)


def train(real_dir: Path, model_path: Path = MODEL_PATH, labels_path: Path = training.LABELS_PATH) -> Evaluation:
    """Fit the shipped model, then write it and its card (measured by cross-validation) beside it."""
    data = _labelled(real_dir, labels_path)
    fitted = training.fit(*data)
    result = evaluate(real_dir, labels_path, facts=fitted.model.facts, data=data)
    fitted.model.facts["carte"] = {k: result.card[k] for k in ("validation", "gain_sur_regles", "gain_sur_mots_cles")}
    fitted.model.save(model_path)
    evaluation.write_card(result.card, model_path.parent, evaluation.worst_mistakes(result.oof))
    return result
