"""The labelled set, the shipped model and its card, against the real samples (read in place, never copied)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pipelines import pipeline
from pipelines.classify import commands, decision, keywords, training
from pipelines.classify_csv import classify_csv


@pytest.fixture(scope="module")
def corpus(real_data) -> pd.DataFrame:
    return training.load_corpus(real_data)


def test_labelled_set_is_a_sample_of_real_distinct_objects(corpus):
    labels = training.read_labels()
    labelled = training.attach_labels(corpus, labels, max_missing=0.0)
    assert len(labelled) == len(labels) >= 600
    assert labelled["texte"].nunique() == len(labelled)  # distinct objects, not lots of one text
    positives = labelled[labelled["etiquette"] == 1]
    assert len(positives) >= 10 and positives["source"].nunique() >= 2
    # Hard negatives are there: innovation vocabulary, research buyers' ordinary purchases, declared flags.
    negatives = labelled[labelled["etiquette"] == 0]
    assert negatives["mots_cles"].sum() >= 40 and negatives["declare"].sum() >= 2
    # Motifs are the labellers' short words, never the record's text copied.
    for motif, objet in zip(labels.set_index("cle").loc[labelled["cle"], "motif"], labelled["objet"]):
        text = keywords.normalise(objet)
        assert len(motif) <= 130 and (len(text) < 50 or text[:50] not in keywords.normalise(motif))
    rubric = (training.LABELS_PATH.parent / "rubrique.md").read_text(encoding="utf-8")
    assert "L2172-3" in rubric and "certitude" in rubric


def test_shipped_model_is_reproducible_and_its_card_current(real_data, tmp_path):
    """Retraining gives the shipped bytes and card; the card's figures meet the targets of the method."""
    model_path = tmp_path / "modele-texte.json.gz"
    result = commands.train(real_data, model_path)
    assert model_path.read_bytes() == decision.MODEL_PATH.read_bytes()
    shipped = json.loads((decision.MODEL_PATH.parent / "carte-modele.json").read_text(encoding="utf-8"))
    fresh = json.loads((tmp_path / "carte-modele.json").read_text(encoding="utf-8"))
    assert {k: v for k, v in fresh.items() if k != "date"} == {k: v for k, v in shipped.items() if k != "date"}
    overall = pd.DataFrame(result.card["mesures"]).query("perimetre == 'ensemble'").set_index("methode")
    final = overall.loc["final"]
    assert final["f1"] >= 0.85 and final["precision"] >= 0.85
    assert final["f1"] > overall.loc["regles_v1", "f1"] and final["f1"] > overall.loc["mots_cles", "f1"]
    assert final["f1"] >= overall.loc["regles", "f1"]
    # Every labelled record was scored once per repetition, by models that never saw it.
    assert result.oof.groupby("repetition")["cle"].nunique().eq(len(training.read_labels())).all()


def test_classify_command_decides_like_the_pipeline(real_data, tmp_path):
    source = real_data / "decp" / "decp2019-csv"
    marches = pipeline.classify_marches(pipeline.normalize(pipeline.ingest([source])).marches)
    columns = ["uid", "objet", "code_cpv", "procedure", "montant", "date_notification", "marche_innovant_declare"]
    csv_in = tmp_path / "in.csv"
    marches[columns].to_csv(csv_in, index=False)
    classify_csv(csv_in, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert out["uid"].tolist() == marches["uid"].astype(str).tolist()
    assert out["innovant"].tolist() == marches["innovant"].map({True: "true", False: "false"}).tolist()
    assert out["innovation_signaux"].tolist() == marches["innovation_signaux"].fillna("").astype(str).tolist()
    assert (out["innovation_score"].astype(float) - marches["innovation_score"].astype(float)).abs().max() < 5e-4
    assert marches["innovant"].sum() >= 10


def test_scores_of_real_objects_are_the_vectorizers_bit_for_bit(corpus):
    """text_model.Terms counts real objects (accents, "R&D", punctuation, codes) as scikit-learn's analyzer does."""
    import numpy as np

    from pipelines.classify import text_model

    model, _ = decision.shipped_model()
    texts = corpus["objet"].dropna().astype(str).tolist()
    assert len(texts) > 1000
    vec = text_model.vectorizer(model.vocabulary)
    vec.idf_ = model.idf
    expected = np.asarray(vec.transform([keywords.normalise(t) for t in texts]) @ model.coef).ravel() + model.intercept
    assert np.array_equal(text_model._score_chunk(model.vocabulary, model.idf, model.coef, model.intercept, texts),
                          expected)
