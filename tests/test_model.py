"""The text model, the combined decision and the training procedure, on small synthetic data (offline, fast)."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from pipelines.classify import classify, decision, evaluation, keywords, text_model, training
from pipelines.classify.decision import Combination, combine
from pipelines.classify.signals import ORDER, SIGNALS

INNOVATIVE = [
    "Fabrication d'un prototype de capteur de houle",
    "Conception et réalisation d'un démonstrateur de batterie sodium",
    "Développement expérimental d'un algorithme de détection des fuites",
    "Preuve de concept d'un service de covoiturage rural",
    "Expérimentation d'un dispositif nouveau de télésurveillance des digues",
    "Recherche et développement d'un matériau biosourcé nouveau",
]
MUNDANE = [
    "Travaux de peinture des salles de classe",
    "Fourniture de papier pour le centre de recherche",
    "Nettoyage des locaux administratifs",
    "Maintenance des ascenseurs",
    "Collecte des déchets ménagers",
    "Formation à l'innovation managériale",
    "Acquisition d'un spectromètre de laboratoire",
    "Assurance flotte automobile",
]


def _corpus(copies: int = 6) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A corpus shaped like training.load_corpus: distinct texts, every third record labelled."""
    rows = []
    for i in range(copies):
        for j, text in enumerate(INNOVATIVE):
            rows.append((f"{text} (opération {i}-{j})", 1))
        for j, text in enumerate(MUNDANE):
            rows.append((f"{text} - site {i}-{j}", 0))
    objets = [r[0] for r in rows]
    records = pd.DataFrame({"objet": objets})
    by_rules = classify_rules(records)
    texte = records["objet"].map(keywords.normalise)
    corpus = pd.DataFrame({
        "cle": [f"marche:{k}" for k in range(len(rows))],
        "source": "DECP 2019",
        "objet": objets,
        "texte": texte,
        "groupe": texte.str.slice(0, training.GROUP_PREFIX),
        "score_regles": by_rules["innovation_score"].to_numpy(),
        "signaux_regles": by_rules["innovation_signaux"].to_numpy(),
        "regles": by_rules["innovation_score"].to_numpy() >= 0.5,
        "mots_cles": texte.str.contains(training.NAIVE_KEYWORDS).to_numpy(),
        "declare": False,
    })
    labels = pd.DataFrame({
        "cle": corpus["cle"], "strate": "test", "etiquette": [r[1] for r in rows], "certitude": "haute",
        "motif": "synthétique",
    })
    return corpus, labels


def classify_rules(df):
    from pipelines.classify import rules

    return rules.classify(df)


def test_saved_model_scores_like_the_fitted_one(tmp_path):
    corpus, labels = _corpus()
    y = labels["etiquette"].to_numpy()
    vec = text_model.vectorizer(min_df=1)
    matrix = vec.fit_transform(corpus["texte"])
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression(C=4.0, solver="liblinear").fit(matrix, y)
    model = text_model.TextModel.from_fitted(vec, fitted, {"version_methode": "test"})
    path = tmp_path / "m.json.gz"
    model.save(path)
    loaded = text_model.TextModel.load(path)
    expected = fitted.decision_function(vec.transform(corpus["texte"]))
    assert np.allclose(loaded.logits(corpus["objet"]), expected, atol=1e-4)
    assert loaded.facts == {"version_methode": "test"}
    # Same model, same bytes: a retrain without change shows no diff.
    again = tmp_path / "again.json.gz"
    model.save(again)
    assert again.read_bytes() == path.read_bytes()


def test_logits_handle_missing_and_repeated_texts_in_order():
    corpus, labels = _corpus()
    model = training.fit_text(corpus["texte"].tolist(), labels["etiquette"].to_numpy(), np.ones(len(corpus)))
    texts = pd.Series(["Fabrication d'un prototype de drone", None, "Nettoyage des locaux", np.nan,
                       "Fabrication d'un prototype de drone"], dtype=object)
    out = model.logits(texts)
    assert out.shape == (5,)
    assert out[0] == out[4] and out[1] == out[3] == pytest.approx(model.intercept)
    assert out[0] > 0 > out[2]


def test_parallel_scoring_equals_serial(monkeypatch):
    corpus, labels = _corpus()
    model = training.fit_text(corpus["texte"].tolist(), labels["etiquette"].to_numpy(), np.ones(len(corpus)))
    texts = pd.Series([f"{t} n° {i}" for i, t in enumerate(corpus["objet"].tolist() * 3)])
    serial = model.logits(texts)
    monkeypatch.setattr(text_model, "PARALLEL_MIN_TEXTS", 10)
    monkeypatch.setattr(text_model.os, "cpu_count", lambda: 2)
    assert np.allclose(model.logits(texts), serial)


TRICKY_TEXTS = [
    "", "a", "r&d", "r & d", "r &d innovation", "ar&d et r&d", "&&& r&&d", "projet r & d r & d", "İnnovation",
    "données ünïcode ο λόγος", "x y z ab", "ab", "prototype prototype prototype", "e-santé 2024 lot n°3",
    "r & d\tinnovation", "ab\u00a0cd", "developpement d'un démonstrateur r&d", "r& dinnovation",
]


def _sklearn_counts(vocabulary: dict[str, int], texts: list[str]):
    from sklearn.feature_extraction.text import CountVectorizer

    vec = text_model.vectorizer(vocabulary)
    return CountVectorizer.transform(vec, texts)


def test_term_counts_are_scikit_learns_cell_for_cell():
    """Terms counts what the vectorizer's analyzer counts (same cells, same order): the scores stay identical."""
    corpus, labels = _corpus()
    model = training.fit_text(corpus["texte"].tolist(), labels["etiquette"].to_numpy(), np.ones(len(corpus)))
    vocabulary = dict(model.vocabulary)
    # Terms made of the token pattern's other alternative, alone and in bigrams.
    for term in ("r&d", "r & d", "r & d innovation", "r&d r&d", "prototype prototype", "ab cd", "innovation"):
        vocabulary.setdefault(term, len(vocabulary))
    texts = corpus["objet"].tolist() + TRICKY_TEXTS
    expected = _sklearn_counts(vocabulary, [keywords.normalise(t) for t in texts])
    counted = text_model.Terms(vocabulary).counts(texts)
    assert counted.shape == expected.shape and counted.dtype == expected.dtype
    assert (abs(counted - expected)).sum() == 0
    assert np.array_equal(counted.indptr, expected.indptr) and np.array_equal(counted.indices, expected.indices)
    assert np.array_equal(counted.data, expected.data)
    assert expected[len(texts) - len(TRICKY_TEXTS) + TRICKY_TEXTS.index("projet r & d r & d")].sum() > 0


def test_scores_are_the_vectorizers_bit_for_bit():
    model, _ = decision.shipped_model()
    corpus, _ = _corpus()
    texts = corpus["objet"].tolist() + TRICKY_TEXTS
    vec = text_model.vectorizer(model.vocabulary)
    vec.idf_ = model.idf
    expected = np.asarray(vec.transform([keywords.normalise(t) for t in texts]) @ model.coef).ravel() + \
        model.intercept
    scored = text_model._score_chunk(model.vocabulary, model.idf, model.coef, model.intercept, texts)
    assert np.array_equal(scored, expected)


def test_model_file_with_another_format_is_refused(tmp_path):
    path = tmp_path / "m.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump({"format": "autre chose", "format_version": 1}, handle)
    with pytest.raises(ValueError, match="format de modèle inconnu"):
        text_model.TextModel.load(path)
    (tmp_path / "bad.json.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="illisible"):
        text_model.TextModel.load(tmp_path / "bad.json.gz")


# --- combination -------------------------------------------------------------------------------------------

NEUTRAL = Combination(rules_decision=0.0, rules=1.0, text=1.0, constant=0.0, text_alone=(1.0, 0.0))


def _rules(scores, labels):
    return pd.DataFrame({"innovant": np.asarray(scores) >= 0.5, "innovation_score": scores,
                         "innovation_signaux": labels}, index=[10, 11, 12, 13])


def test_combination_codes_explain_the_decision():
    by_rules = _rules([0.0, 0.55, 0.4, 0.95],
                      ["", "texte_prototype", "declare_innovant", "procedure_partenariat_innovation"])
    # Text logits: strongly innovative, strongly ordinary, mildly innovative, strongly ordinary.
    out = combine(by_rules, np.array([6.0, -6.0, 1.5, -9.0]), NEUTRAL,
                  declared_false=np.array([True, False, False, False]))
    assert list(out.index) == [10, 11, 12, 13]
    assert out["innovant"].tolist() == [True, True, True, True]
    codes = [set(s.split("|")) - {""} for s in out["innovation_signaux"]]
    assert codes[0] == {"modele_texte", "declare_non_innovant"}  # the final decision goes against the buyer
    assert codes[1] == {"texte_prototype"}  # a text the model finds ordinary takes nothing from the rules
    assert codes[2] == {"declare_innovant", "modele_texte"}
    # A conclusive rules score is a floor.
    assert out["innovation_score"].iloc[3] == pytest.approx(0.95)
    # Text evidence only counts beyond the text model's own boundary: the score never falls as the text logit
    # falls below it.
    low = combine(by_rules, np.array([-1.0, -20.0, -3.0, -50.0]), NEUTRAL)
    assert (low["innovation_score"].to_numpy() == combine(by_rules, np.zeros(4), NEUTRAL)["innovation_score"]
            .to_numpy()).all()
    for text in out["innovation_signaux"]:
        listed = [c for c in text.split("|") if c]
        assert listed == sorted(listed, key=ORDER.index) and set(listed) <= set(SIGNALS)


def test_declared_false_is_dropped_when_the_decision_agrees():
    by_rules = _rules([0.0, 0.6, 0.0, 0.0], ["", "declare_non_innovant|texte_moyen|texte_moyen_cumul", "", ""])
    out = combine(by_rules, np.array([-8.0, 3.0, -8.0, -8.0]), NEUTRAL, declared_false=np.ones(4, dtype=bool))
    assert out["innovant"].tolist() == [False, True, False, False]
    assert out["innovation_signaux"].iloc[0] == ""
    assert "declare_non_innovant" in out["innovation_signaux"].iloc[1]


def test_shipped_model_is_what_classify_uses(monkeypatch, tmp_path):
    model, combination = decision.shipped_model()
    assert len(model.vocabulary) > 1000 and model.facts["version_methode"] == "regles-texte-v2"
    frame = pd.DataFrame({"objet": ["Fabrication d'un prototype de générateur", "Nettoyage des locaux", None]})
    expected = classify(frame)
    assert expected["innovant"].tolist() == [True, False, False]
    # ACHATS_MODEL_PATH selects another model file; a missing one is a clear error.
    monkeypatch.setenv("ACHATS_MODEL_PATH", str(tmp_path / "absent.json.gz"))
    with pytest.raises(FileNotFoundError, match="absent.json.gz"):
        classify(frame)


# --- training -----------------------------------------------------------------------------------------------


def test_cross_validation_never_scores_a_record_with_a_model_that_saw_it(monkeypatch):
    corpus, labels = _corpus()
    labelled = corpus.merge(labels, on="cle")
    seen: list[set[str]] = []
    original = training.fit_text

    def spy(texts, y, base_weight, facts=None):
        seen.append(set(texts))
        return original(texts, y, base_weight, facts)

    scored: list[tuple[set[str], set[str]]] = []
    original_logits = training._text_logits

    def spy_logits(train, weak, test):
        out = original_logits(train, weak, test)
        scored.append((seen[-1], set(test["texte"])))
        return out

    monkeypatch.setattr(training, "fit_text", spy)
    monkeypatch.setattr(training, "_text_logits", spy_logits)
    oof = training.cross_validate(corpus, labelled, repeats=1, folds=3)
    assert scored and all(not (trained & tested) for trained, tested in scored)
    # Lots of one operation share a group and therefore a fold.
    first = oof[oof["repetition"] == 0]
    assert first.groupby("groupe")["pli"].nunique().max() == 1
    assert len(first) == len(labelled) and set(first["cle"]) == set(labelled["cle"])


def test_training_learns_the_synthetic_split_and_is_reproducible():
    corpus, labels = _corpus()
    labelled = corpus.merge(labels, on="cle")
    first = training.fit(corpus, labelled)
    second = training.fit(corpus, labelled)
    assert first.model.to_dict() == second.model.to_dict()
    oof = training.cross_validate(corpus, labelled, repeats=1, folds=3)
    figures = evaluation.scores(oof["etiquette"].to_numpy(), oof["final"].to_numpy())
    assert figures["f1"] >= 0.9


def test_labels_file_problems_are_named(tmp_path):
    path = tmp_path / "etiquettes.csv"
    path.write_text("cle,source,strate,etiquette,certitude,motif\n"
                    "marche:1,DECP,x,1,haute,prototype\nmarche:1,DECP,x,2,sure,\n", encoding="utf-8")
    with pytest.raises(training.LabelError) as error:
        training.read_labels(path)
    message = str(error.value)
    assert "etiquettes.csv" in message and "clés en double" in message and "etiquette hors" in message
    assert "certitude hors" in message and "sans motif" in message


def test_missing_labelled_records_are_refused():
    corpus, labels = _corpus()
    with pytest.raises(training.LabelError, match="absents des données réelles"):
        training.attach_labels(corpus.iloc[:10], labels.assign(source="DECP 2019"))


# --- evaluation ---------------------------------------------------------------------------------------------


def test_scores_and_metrics_table():
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    predicted = np.array([1, 1, 0, 1, 0, 0, 0], dtype=bool)
    s = evaluation.scores(y, predicted)
    assert (s["vp"], s["fp"], s["fn"], s["vn"]) == (2, 1, 1, 3)
    assert s["precision"] == pytest.approx(2 / 3) and s["rappel"] == pytest.approx(2 / 3)
    # Undefined figures stay undefined: no positive, no recall; nothing predicted, no precision.
    empty = evaluation.scores(np.zeros(3), np.zeros(3, dtype=bool))
    assert np.isnan(empty["precision"]) and np.isnan(empty["rappel"]) and np.isnan(empty["f1"])
    assert evaluation.scores(np.ones(2), np.zeros(2, dtype=bool))["rappel"] == 0.0
    oof = pd.DataFrame({
        "repetition": [0] * 7 + [1] * 7, "etiquette": np.tile(y, 2), "source": "DECP 2019", "certitude": "haute",
        "final": np.concatenate([predicted, y.astype(bool)]), "regles": np.tile(predicted, 2),
        "mots_cles": True, "declare": False, "modele": np.tile(predicted, 2), "regles_v1": False,
    })
    table = evaluation.metrics(oof).set_index(["perimetre", "methode"])
    assert table.loc[("ensemble", "final"), "f1"] == pytest.approx((2 / 3 + 1) / 2, abs=1e-4)
    assert table.loc[("ensemble", "final"), "f1_ecart_type"] > 0
    assert table.loc[("ensemble", "mots_cles"), "rappel"] == 1.0
    assert table.loc[("ensemble", "regles"), "enregistrements"] == 7
