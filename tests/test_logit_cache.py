"""Text-model logits reused from the previous run (pipelines/classify/logit_cache): same values as scoring again,
only new texts scored, nothing reused across models or from a damaged file, same publication with or without."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.classify.decision import classify, model_path, shipped_model
from pipelines.classify.logit_cache import cache_key, cached_logits, prescore
from pipelines.classify.text_model import TextModel
from pipelines.pipeline import run_from_files
from pipelines.settings import sample_files

TEXTS = ["Fourniture de papier", "Réalisation d'un prototype de capteur", None, "Fourniture de papier",
         "Partenariat d'innovation pour un drone", "", "  Fourniture   de PAPIER ", "R&amp;D sur les batteries"]


class Counting:
    """The shipped model, counting the texts it is asked to score."""

    def __init__(self, model):
        self.model, self.scored, self.intercept = model, [], model.intercept

    def logits(self, texts):
        self.scored += list(texts)
        return self.model.logits(texts)


@pytest.fixture()
def model():
    return Counting(shipped_model()[0])


# Text columns of the tables are Arrow strings (distinct texts found in Arrow); object columns take pandas' way.
DTYPES = [object, "string", "str"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_cached_logits_equal_scoring_again(tmp_path, model, dtype):
    texts = pd.Series(TEXTS, dtype=dtype)
    expected = model.model.logits(texts)
    first = cached_logits(model, texts, tmp_path, "k1", "marches")
    model.scored.clear()
    second = cached_logits(model, texts, tmp_path, "k1", "marches")
    assert model.scored == []  # every logit cached, the missing text's (None) included
    assert np.array_equal(first, expected) and np.array_equal(second, expected)
    assert list((tmp_path).glob("logits-marches-k1.parquet"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_only_new_texts_are_scored(tmp_path, model, dtype):
    cached_logits(model, pd.Series(TEXTS[:4], dtype=dtype), tmp_path, "k1", "marches")
    model.scored.clear()
    texts = pd.Series(TEXTS + ["Étude de faisabilité"], dtype=dtype)
    out = cached_logits(model, texts, tmp_path, "k1", "marches")
    assert [t for t in model.scored if t is not None] == [
        "Partenariat d'innovation pour un drone", "", "  Fourniture   de PAPIER ", "R&amp;D sur les batteries",
        "Étude de faisabilité"]
    assert np.array_equal(out, model.model.logits(texts))


def test_another_model_or_table_never_reads_them_and_a_damaged_file_is_scored_again(tmp_path, model):
    texts = pd.Series(TEXTS, dtype=object)
    cached_logits(model, texts, tmp_path, "k1", "marches")
    model.scored.clear()
    cached_logits(model, texts, tmp_path, "k1", "avis")
    assert len([t for t in model.scored if t is not None]) == 6  # distinct texts of the other table
    cached_logits(model, texts, tmp_path, "k2", "marches")
    assert not (tmp_path / "logits-marches-k1.parquet").exists()  # another model's file removed
    (tmp_path / "logits-marches-k2.parquet").write_bytes(b"PAR1 not parquet")
    model.scored.clear()
    assert np.array_equal(cached_logits(model, texts, tmp_path, "k2", "marches"), model.model.logits(texts))
    assert len([t for t in model.scored if t is not None]) == 6


def test_publication_is_the_same_with_the_cache(tmp_path, monkeypatch):
    """The first run finds an empty cache and scores every text, as a run without cache does; the second takes
    every logit from the cache."""
    monkeypatch.setenv("ACHATS_CACHE_DIR", str(tmp_path / "cache"))
    run_from_files(sample_files(), tmp_path / "first")
    assert list((tmp_path / "cache").glob("logits-marches-*.parquet"))
    scored = []
    original = TextModel.logits
    monkeypatch.setattr(TextModel, "logits", lambda self, texts: scored.append(len(texts)) or original(self, texts))
    run_from_files(sample_files(), tmp_path / "second")
    assert scored == []  # nothing scored: a missing text's logit is the intercept, as the model gives it
    for name in ("marches.csv", "avis.csv", "marches.parquet", "indicateurs.csv"):
        assert (tmp_path / "first" / "data" / name).read_bytes() == (tmp_path / "second" / "data" / name).read_bytes()


def test_the_key_names_the_model_as_loaded(tmp_path):
    shipped = TextModel.load(model_path())
    assert shipped.digest and cache_key(shipped.digest) == cache_key(TextModel.load(model_path()).digest)
    other = TextModel(shipped.vocabulary, shipped.idf, shipped.coef, shipped.intercept + 0.5, shipped.facts)
    other.save(tmp_path / "autre.json.gz")
    assert cache_key(TextModel.load(tmp_path / "autre.json.gz").digest) != cache_key(shipped.digest)
    # A model given by the caller (evaluation, training) is scored afresh, never cached.
    frame = pd.DataFrame({"objet": TEXTS})
    classify(frame, model=shipped_model(), cache=(tmp_path / "cache", "marches"))
    assert not (tmp_path / "cache").exists()


def test_new_texts_scored_by_chunks_score_the_same(tmp_path, model, monkeypatch):
    import pipelines.classify.logit_cache as logit_cache

    monkeypatch.setattr(logit_cache, "SCORE_CHUNK_TEXTS", 2)
    calls = []
    counting = model.logits
    monkeypatch.setattr(model, "logits", lambda texts: calls.append(len(texts)) or counting(texts))
    texts = pd.Series(TEXTS, dtype="string")
    out = cached_logits(model, texts, tmp_path, "k1", "marches")
    assert np.array_equal(out, model.model.logits(texts))
    assert len(calls) == 3 and sum(calls) == 6  # six distinct texts, at most two at a time


class SetAfter:
    """A stop event that reads as set from its ``n``-th look on."""

    def __init__(self, n):
        self.looks, self.n = 0, n

    def is_set(self):
        self.looks += 1
        return self.looks >= self.n


EXTRA = ["Étude de faisabilité", "Maintenance des ascenseurs", "Démonstrateur de batterie solide", "Nettoyage"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_prescored_texts_are_taken_and_score_the_same(tmp_path, model, monkeypatch, dtype):
    import pipelines.classify.logit_cache as logit_cache

    texts = pd.Series(TEXTS + EXTRA, dtype=dtype)
    cached_logits(model, texts[:2], tmp_path, "k1", "marches")  # two texts known from an earlier run
    monkeypatch.setattr(logit_cache, "PRESCORE_CHUNK_TEXTS", 2)
    # First look at the start, then one before each chunk: stopped before the third chunk.
    scored = prescore(model.model, texts, tmp_path, "k1", "marches", SetAfter(4))
    assert scored.column("texte").to_pylist() == ["Partenariat d'innovation pour un drone", "",
                                                   "  Fourniture   de PAPIER ", "R&amp;D sur les batteries"]
    model.scored.clear()
    out = cached_logits(model, texts, tmp_path, "k1", "marches", scored=scored)
    assert [t for t in model.scored if t is not None] == EXTRA  # only what was left
    assert np.array_equal(out, model.model.logits(texts))
    model.scored.clear()
    assert np.array_equal(cached_logits(model, texts, tmp_path, "k1", "marches"), out)
    assert model.scored == []  # the prescored texts were written to the cache with the others
    assert prescore(model.model, texts, tmp_path, "k1", "marches", SetAfter(1)).num_rows == 0


def test_publication_is_the_same_with_texts_scored_during_consolidation(tmp_path, monkeypatch):
    import pipelines.pipeline as pipeline

    runs = {}
    original = pipeline.classify_marches
    for name, min_rows in (("prescored", 0), ("plain", 10**9)):
        monkeypatch.setenv("ACHATS_CACHE_DIR", str(tmp_path / f"cache-{name}"))
        monkeypatch.setattr(pipeline, "PRESCORE_MIN_ROWS", min_rows)
        # The child scores every text before it is asked for them (a sample's consolidation is too short to wait).
        monkeypatch.setattr(pipeline._Prescoring, "result",
                            lambda self: self.pending.result() if self.pending is not None else None)
        seen = []
        monkeypatch.setattr(pipeline, "classify_marches",
                            lambda marches, scored=None, known=None: seen.append(scored)
                            or original(marches, scored, known))
        run_from_files(sample_files(), tmp_path / name)
        runs[name] = seen[0]
    assert runs["plain"] is None and runs["prescored"].num_rows > 10
    for name in ("marches.csv", "marches.parquet", "indicateurs.csv", "titulaires.csv"):
        assert (tmp_path / "prescored" / "data" / name).read_bytes() == (tmp_path / "plain" / "data" / name).read_bytes()
