"""Figures of the decision on the labelled set: precision, recall, F1 per method and source, mistakes, model card.

Input: the out-of-fold predictions of training.cross_validate (one row per labelled record and repetition).
The deterministic baselines (rules alone, keywords alone, the buyer's declared flag) are the same in every
repetition; the final decision and the text model alone are averaged over the repetitions, with their spread.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..files import atomic_write_text

METHODS = {
    "final": "Décision publiée (règles + modèle de texte)",
    "regles": "Règles seules (regles-v2)",
    "regles_v1": "Règles v1 seules (écrites avant le jeu étiqueté)",
    "mots_cles": "Mots-clés seuls (dictionnaire naïf)",
    "declare": "Déclaration de l'acheteur (marcheInnovant)",
    "modele": "Modèle de texte seul",
}
CARD_JSON = "carte-modele.json"
CARD_MD = "carte-modele.md"


def scores(y: np.ndarray, predicted: np.ndarray) -> dict[str, float | int]:
    y = np.asarray(y, dtype=bool)
    predicted = np.asarray(predicted, dtype=bool)
    tp = int((y & predicted).sum())
    fp = int((~y & predicted).sum())
    fn = int((y & ~predicted).sum())
    tn = int((~y & ~predicted).sum())
    # Undefined figures stay undefined (NaN, shown "—"): a source without positives has no recall, a method
    # that never says "innovant" has no precision.
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    if np.isnan(precision) or np.isnan(recall):
        f1 = float("nan")
    else:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "rappel": recall, "f1": f1, "vp": tp, "fp": fp, "fn": fn, "vn": tn}


def metrics(oof: pd.DataFrame) -> pd.DataFrame:
    """One row per (scope, method): mean figures over the repetitions and the spread of F1."""
    rows = []
    scopes = [("ensemble", oof)]
    scopes += [(f"source : {s}", part) for s, part in oof.groupby("source", sort=True)]
    scopes += [("certitude haute", oof[oof["certitude"] == "haute"])]
    for scope, part in scopes:
        for method in METHODS:
            per_repeat = [scores(r["etiquette"].to_numpy(), r[method].to_numpy())
                          for _, r in part.groupby("repetition", sort=True)]
            mean = {k: _mean([s[k] for s in per_repeat]) for k in per_repeat[0]}
            rows.append({
                "perimetre": scope,
                "methode": method,
                "enregistrements": int(len(part) / part["repetition"].nunique()),
                "positifs": int(part.loc[part["repetition"] == part["repetition"].min(), "etiquette"].sum()),
                **{k: round(v, 4) if k in ("precision", "rappel", "f1") else round(v, 1) for k, v in mean.items()},
                "f1_ecart_type": round(float(np.std([s["f1"] for s in per_repeat])), 4)
                if not any(np.isnan(s["f1"]) for s in per_repeat) else float("nan"),
            })
    return pd.DataFrame(rows)


def _changed(oof: pd.DataFrame) -> dict[str, int]:
    """How many decisions the text model changed relative to the rules alone, and whether for the better."""
    changed = oof[oof["final"] != oof["regles"]]
    repeats = max(oof["repetition"].nunique(), 1)
    return {
        "total": round(len(changed) / repeats),
        "corrigees": round(int((changed["final"] == (changed["etiquette"] == 1)).sum()) / repeats),
        "degradees": round(int((changed["final"] != (changed["etiquette"] == 1)).sum()) / repeats),
    }


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not np.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def confusion(oof: pd.DataFrame, method: str = "final") -> pd.DataFrame:
    first = oof[oof["repetition"] == oof["repetition"].min()]
    table = pd.crosstab(first["etiquette"].map({1: "étiqueté innovant", 0: "étiqueté non innovant"}),
                        first[method].map({True: "décidé innovant", False: "décidé non innovant"}))
    return table.reindex(index=["étiqueté innovant", "étiqueté non innovant"],
                         columns=["décidé innovant", "décidé non innovant"], fill_value=0)


def worst_mistakes(oof: pd.DataFrame, limit: int = 10) -> pd.DataFrame:
    """False positives with the highest scores and false negatives with the lowest, from the first repetition."""
    first = oof[oof["repetition"] == oof["repetition"].min()]
    fp = first[(first["etiquette"] == 0) & first["final"]].sort_values("score", ascending=False).head(limit)
    fn = first[(first["etiquette"] == 1) & ~first["final"]].sort_values("score").head(limit)
    out = pd.concat([fp.assign(erreur="faux positif"), fn.assign(erreur="faux négatif")])
    return out[["erreur", "cle", "source", "score", "signaux_regles", "motif", "objet"]].reset_index(drop=True)


def card(oof: pd.DataFrame, facts: dict, folds: int, repeats: int, unlabelled: pd.DataFrame | None = None) -> dict:
    """The model card's data. `unlabelled`: the corpus records outside the labelled set (columns `regles`,
    `regles_v1`), to count the decisions rules v2 add where nobody has read the records."""
    table = metrics(oof)
    overall = table[table["perimetre"] == "ensemble"].set_index("methode")
    final = overall.loc["final"]

    def gain(baseline: str) -> dict[str, float]:
        base = overall.loc[baseline]
        return {k: round(float(final[k] - base[k]), 4) for k in ("precision", "rappel", "f1")}

    return {
        "version_methode": facts.get("version_methode"),
        "version_regles": facts.get("version_regles"),
        "date": dt.date.today().isoformat(),
        "validation": f"validation croisée groupée et imbriquée, {folds} plis × {repeats} répétitions",
        "jeu_etiquete": {
            "enregistrements": int(final["enregistrements"]),
            "positifs": int(final["positifs"]),
            "certitude_haute": int((oof.loc[oof["repetition"] == oof["repetition"].min(), "certitude"] == "haute")
                                   .sum()),
        },
        "entrainement": facts.get("entrainement", {}),
        "combinaison": facts.get("combinaison", {}),
        "gain_sur_regles": gain("regles"),
        "gain_sur_regles_v1": gain("regles_v1"),
        "gain_sur_mots_cles": gain("mots_cles"),
        "mesures": table.astype(object).where(table.notna(), None).to_dict(orient="records"),
        "decisions_changees_par_le_modele": _changed(oof),
        "hors_jeu": None if unlabelled is None else {
            "enregistrements": int(len(unlabelled)),
            "innovants_regles_v2": int(unlabelled["regles"].sum()),
            "ajoutes_par_v2": int((unlabelled["regles"] & ~unlabelled["regles_v1"]).sum()),
        },
        "confusion": confusion(oof).to_dict(),
    }


def _percent(value: float) -> str:
    if value is None or np.isnan(value):
        return "—"
    return f"{value * 100:.1f} %".replace(".", ",")


def render_metrics(table: pd.DataFrame) -> str:
    shown = table.assign(
        methode=table["methode"].map(METHODS),
        precision=table["precision"].map(_percent),
        rappel=table["rappel"].map(_percent),
        f1=table["f1"].map(_percent),
    )[["perimetre", "methode", "enregistrements", "positifs", "precision", "rappel", "f1", "vp", "fp", "fn"]]
    return shown.to_markdown(index=False)


def render_card(data: dict, mistakes: pd.DataFrame | None = None) -> str:
    table = pd.DataFrame(data["mesures"])
    overall = table[table["perimetre"] == "ensemble"].set_index("methode")
    training = data.get("entrainement", {})
    lines = [
        f"# Carte du modèle de décision « achat innovant » ({data['version_methode']})",
        "",
        "**Ce qu'il décide.** Pour chaque marché (DECP) et chaque avis (BOAMP, TED) : `innovant`, "
        "`innovation_score` (probabilité calibrée sur le jeu étiqueté) et `innovation_signaux` (pourquoi). "
        "Définition : Code de la commande publique, art. L2172-3 (travaux, fournitures ou services nouveaux "
        "ou sensiblement améliorés) ; c'est l'objet acheté qui doit être innovant.",
        "",
        "**Comment.** Règles pondérées (" + str(data.get("version_regles")) + " : codes structurés eForms/TED, "
        "procédure de partenariat d'innovation, dictionnaire juridique et technique avec gardes contre les faux "
        "positifs, déclaration de l'acheteur, forme R2122-9-1) combinées par régression logistique avec un "
        "modèle de texte (TF-IDF des mots et paires de mots de l'objet, régression logistique) entraîné sur "
        f"{training.get('etiquettes', '?')} étiquettes de l'équipe et {training.get('etiquettes_faibles', '?')} "
        f"étiquettes faibles (décision des règles, poids {training.get('poids_etiquette_faible', '?')}). "
        "Le modèle livré tient dans le paquet et fonctionne hors ligne.",
        "",
        f"**Mesure.** {data['validation']} sur le jeu étiqueté de l'équipe : "
        f"{data['jeu_etiquete']['enregistrements']} enregistrements réels dont "
        f"{data['jeu_etiquete']['positifs']} innovants (rubrique : `pipelines/classify/labels/rubrique.md`). "
        "Aucun enregistrement n'est noté par un modèle qui l'a vu ; les lots d'une même opération restent "
        "dans le même pli.",
        "",
        "| méthode | précision | rappel | F1 |",
        "|---|---|---|---|",
    ]
    for method, label in METHODS.items():
        row = overall.loc[method]
        lines.append(f"| {label} | {_percent(row['precision'])} | {_percent(row['rappel'])} | {_percent(row['f1'])} |")
    g_rules, g_v1, g_kw = data["gain_sur_regles"], data["gain_sur_regles_v1"], data["gain_sur_mots_cles"]
    changed = data["decisions_changees_par_le_modele"]
    lines += [
        "",
        f"**Gains de la décision publiée.** Sur les règles v1 (écrites avant le jeu étiqueté) : {_points(g_v1['f1'])} "
        f"de F1 (précision {_points(g_v1['precision'])}, rappel {_points(g_v1['rappel'])}). Sur les mots-clés "
        f"seuls : {_points(g_kw['f1'])} de F1 (précision {_points(g_kw['precision'])}, rappel "
        f"{_points(g_kw['rappel'])}). Sur les règles v2 seules : {_points(g_rules['f1'])} de F1 ; le modèle de "
        f"texte a changé {changed['total']} décision(s) des règles par répétition ({changed['corrigees']} "
        f"corrigée(s), {changed['degradees']} dégradée(s)).",
        "",
        "**À lire avant de citer ces chiffres.** Les trois signaux ajoutés en v2 (`texte_experimentation`, "
        "`texte_conception`, `texte_rd_livrable`) ont été écrits en lisant les positifs de ce jeu : leurs "
        "chiffres y sont mesurés sur les exemples dont ils viennent, ce que la validation croisée ne corrige "
        "pas (elle protège l'apprentissage du modèle, pas la lecture du rédacteur des règles). "
        + _outside(data.get("hors_jeu")) + "Leur précision sur d'autres données reste à mesurer sur un nouveau lot "
        "étiqueté. Avec "
        f"{data['jeu_etiquete']['positifs']} positifs, un faux positif ou un faux négatif de plus déplace la "
        "précision ou le rappel de 5 à 7 points.",
        "",
        "## Détail par source et sur les étiquettes sûres",
        "",
        render_metrics(table),
        "",
        "## Matrice de confusion (décision publiée, première répétition)",
        "",
        pd.DataFrame(data["confusion"]).to_markdown(),
        "",
        "## Limites",
        "",
        "- Le jeu étiqueté vient des échantillons réels de l'équipe : surtout des marchés de l'État et des "
        "universités de 2019 (AIFE), quelques centaines de marchés DECP 2024 et quelques dizaines d'avis. Les "
        "achats innovants y sont rares ; chaque erreur pèse plusieurs points de précision ou de rappel.",
        "- Les enregistrements ont été choisis pour contenir les positifs et les négatifs difficiles (mots de "
        "l'innovation, CPV 72/73, déclarations) ; sur l'ensemble des marchés, presque tous banals, la "
        "précision serait au moins aussi bonne, le rappel n'est pas mesurable sans lire tous les objets.",
        "- Un seul étiqueteur par enregistrement, relu sur les positifs et les cas limites ; les étiquettes de "
        "certitude faible sont mesurées à part.",
        "- L'objet d'un marché est souvent court ou tronqué : quand il ne dit pas ce qui est nouveau, ni les "
        "règles ni le modèle ne peuvent le voir.",
    ]
    if mistakes is not None and len(mistakes):
        # Keys and reasons only: the objets stay in the source files (`achats-innovants evaluate` prints them).
        lines += ["", "## Pires erreurs (première répétition)", "",
                  mistakes.drop(columns=["objet"]).to_markdown(index=False)]
    return "\n".join(lines) + "\n"


def _outside(outside: dict | None) -> str:
    if not outside:
        return ""
    return (f"Sur les {outside['enregistrements']} objets réels hors du jeu étiqueté, les règles v2 ajoutent "
            f"{outside['ajoutes_par_v2']} décision(s) « innovant » à celles des règles v1. ")


def _points(delta: float) -> str:
    sign = "+" if delta >= 0 else "−"
    return f"{sign}{abs(delta) * 100:.1f} points".replace(".", ",")


def write_card(data: dict, directory: Path, mistakes: pd.DataFrame | None = None) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / CARD_JSON, directory / CARD_MD]
    contents = [json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n", render_card(data, mistakes)]
    for path, content in zip(paths, contents):
        atomic_write_text(path, content)
    return paths
