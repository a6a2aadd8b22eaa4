"""Text model: TF-IDF over the normalised `objet` (word 1-2-grams) and a linear model, stored as plain numbers.

The shipped model is a gzipped JSON file (vocabulary, idf, coefficients, intercept, training facts), not a
pickle: it loads without executing code, reads the same under any scikit-learn version, diffs in review and
stays small (a few hundred KB). Scoring rebuilds a fixed-vocabulary vectorizer and takes one sparse dot
product per distinct text; large inputs are split between this process and a forked child, because
scikit-learn's analyzer is pure Python and holds the GIL.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from itertools import chain, repeat
from pathlib import Path

import numpy as np
import pandas as pd

from ..background import Background
from ..files import atomic_write_bytes
from . import keywords

# "r&d" survives as one token; single letters (elided d', l') and digits (lot numbers, years, references)
# carry no meaning about novelty and would only let the model memorise records.
TOKEN_PATTERN = r"r ?& ?d|[a-z]{2,}"
NGRAM_RANGE = (1, 2)

# Below this many distinct texts the process start-up costs more than the second core saves.
PARALLEL_MIN_TEXTS = 150_000


def vectorizer(vocabulary: dict[str, int] | None = None, min_df: int = 1):
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        lowercase=False,  # texts are already normalised (keywords.normalise)
        token_pattern=TOKEN_PATTERN,
        ngram_range=NGRAM_RANGE,
        sublinear_tf=True,
        min_df=min_df,
        vocabulary=vocabulary,
        dtype=np.float32,
    )


@dataclass
class TextModel:
    vocabulary: dict[str, int]
    idf: np.ndarray
    coef: np.ndarray
    intercept: float
    facts: dict = field(default_factory=dict)
    # sha256 of the file the model was loaded from ("" for a model fitted in memory): names its cached logits.
    digest: str = ""

    @classmethod
    def from_fitted(cls, fitted_vectorizer, classifier, facts: dict | None = None) -> TextModel:
        return cls(
            vocabulary={term: int(i) for term, i in fitted_vectorizer.vocabulary_.items()},
            idf=np.asarray(fitted_vectorizer.idf_, dtype=np.float64),
            coef=np.asarray(classifier.coef_[0], dtype=np.float64),
            intercept=float(classifier.intercept_[0]),
            facts=dict(facts or {}),
        )

    def logits(self, texts: pd.Series | list[str]) -> np.ndarray:
        """Log-odds of "innovant" for each raw text (None/NaN → empty text: the intercept alone)."""
        raw = pd.Series(texts, dtype=object) if not isinstance(texts, pd.Series) else texts.astype(object)
        # Texts repeat (lots of one operation, republications): normalise and score each distinct one once.
        raw_codes, raw_uniques = pd.factorize(raw, sort=False, use_na_sentinel=True)
        scores = self._score_unique(list(raw_uniques) + [""])
        return scores[raw_codes]  # code -1 (missing text) picks the appended "" entry

    def _score_unique(self, texts: list[str]) -> np.ndarray:
        model = (self.vocabulary, self.idf, self.coef, self.intercept)
        if len(texts) >= PARALLEL_MIN_TEXTS and (os.cpu_count() or 1) > 1:
            # Half the texts scored in a forked child while this process scores the other half: the child
            # inherits the texts and the imported libraries instead of receiving pickles and importing again.
            half = len(texts) // 2
            other = Background(_score_chunk, *model, texts[half:])
            try:
                mine = _score_chunk(*model, texts[:half])
                return np.concatenate([mine, other.result()])
            finally:
                other.cancel()  # when this half failed: the child is not left running
        return _score_chunk(*model, texts)

    def scorer(self) -> Scorer:
        return Scorer(self.vocabulary, self.idf, self.coef, self.intercept)

    def to_dict(self) -> dict:
        terms = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        return {
            "format": "achats-innovants/modele-texte",
            "format_version": 1,
            "token_pattern": TOKEN_PATTERN,
            "ngram_range": list(NGRAM_RANGE),
            "facts": self.facts,
            "intercept": round(self.intercept, 6),
            # Terms in index order; idf and coef aligned with them. Six decimals keep scores identical to the
            # fitted model's within 1e-5 and halve the file.
            "terms": terms,
            "idf": [round(float(v), 6) for v in self.idf],
            "coef": [round(float(v), 6) for v in self.coef],
        }

    def save(self, path: Path) -> None:
        payload = json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        buffer = io.BytesIO()
        # No name, mtime=0: the same model gives the same bytes, so a retrain without change shows no diff.
        with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as handle:
            handle.write(payload.encode("utf-8"))
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> TextModel:
        try:
            raw = Path(path).read_bytes()
            data = json.loads(gzip.decompress(raw).decode("utf-8"))
        except (OSError, ValueError, EOFError) as exc:
            raise ValueError(f"{path} : modèle de texte illisible ({exc})") from exc
        if data.get("format") != "achats-innovants/modele-texte" or data.get("format_version") != 1:
            raise ValueError(f"{path} : format de modèle inconnu ({data.get('format')}, {data.get('format_version')})")
        if data["token_pattern"] != TOKEN_PATTERN or tuple(data["ngram_range"]) != NGRAM_RANGE:
            raise ValueError(f"{path} : modèle entraîné avec une autre tokenisation ; réentraîner (make model)")
        terms = data["terms"]
        if not (len(terms) == len(data["idf"]) == len(data["coef"])):
            raise ValueError(f"{path} : vocabulaire, idf et coefficients de longueurs différentes")
        return cls(
            vocabulary={term: i for i, term in enumerate(terms)},
            idf=np.asarray(data["idf"], dtype=np.float64),
            coef=np.asarray(data["coef"], dtype=np.float64),
            intercept=float(data["intercept"]),
            facts=data.get("facts", {}),
            digest=hashlib.sha256(raw).hexdigest(),
        )


def preload() -> None:
    """Import what scoring needs (scikit-learn, about 2 s) and build the letters' table: a run does it while other
    processes read its files, so that neither its classification nor the processes forked from it to score texts
    wait for it."""
    importlib.import_module("sklearn.feature_extraction.text")
    keywords.letter_table()


class Scorer:
    """Logits of raw texts under a model's numbers, batch after batch: the vocabulary's term table and the weighting
    are built once. A text's logit does not depend on the batch it comes in (one row of the TF-IDF matrix)."""

    def __init__(self, vocabulary: dict[str, int], idf: np.ndarray, coef: np.ndarray, intercept: float) -> None:
        from sklearn.feature_extraction.text import TfidfTransformer

        # The vectorizer's own weighting (sublinear tf, idf, l2 norm) on counts made as its analyzer would make them.
        self.weighting = TfidfTransformer(norm="l2", use_idf=True, smooth_idf=True, sublinear_tf=True)
        self.weighting.idf_ = idf
        self.terms = Terms(vocabulary)
        self.coef, self.intercept = coef, intercept

    def __call__(self, texts: list[str]) -> np.ndarray:
        """Scores of raw texts; normalised here, so that with two processes both cores share that work too."""
        counts = self.terms.counts([t if isinstance(t, str) else "" for t in texts])
        matrix = self.weighting.transform(counts, copy=False)
        return np.asarray(matrix @ self.coef, dtype=np.float64).ravel() + self.intercept


def _score_chunk(vocabulary: dict[str, int], idf: np.ndarray, coef: np.ndarray, intercept: float,
                 texts: list[str]) -> np.ndarray:
    return Scorer(vocabulary, idf, coef, intercept)(texts)


class Terms:
    """A fixed vocabulary's term counts of raw texts: the count matrix of ``vectorizer(vocabulary)`` on the texts
    normalised by keywords.normalise, cell for cell, several times faster.

    scikit-learn's analyzer runs the token pattern over each text, joins each pair of tokens into a bigram string
    and looks every n-gram up in turn, in Python. Here the texts without "&" (the pattern's other alternative,
    "r&d", needs it) are cut into tokens all at once: their letters (keywords.letters, normalise's folding from
    their bytes) split in Arrow into maximal runs of a-z, two letters or more, which is what ``[a-z]{2,}`` finds;
    the others are normalised and go through the pattern itself. Each distinct token is
    looked up once, in a table of the words that make up the vocabulary's terms; unigrams and bigrams then come
    from those numbers with numpy (a bigram is a pair of word numbers), and each text's counts from one sort.
    """

    def __init__(self, vocabulary: dict[str, int]) -> None:
        self.size = len(vocabulary)
        self.pattern = re.compile(TOKEN_PATTERN)
        words: dict[str, int] = {}
        unigrams: dict[int, int] = {}
        bigrams: dict[tuple[int, int], int] = {}
        for term, index in vocabulary.items():
            splits = [(term[:at], term[at + 1:]) for at, char in enumerate(term)
                      if char == " " and self.pattern.fullmatch(term[:at]) and self.pattern.fullmatch(term[at + 1:])]
            if len(splits) > 1:
                continue  # the pattern cannot cut a term two ways
            parts = splits[0] if splits else (term,)
            numbers = tuple(words.setdefault(part, len(words)) for part in parts)
            if len(numbers) == 1:
                unigrams[numbers[0]] = index
            else:
                bigrams[numbers] = index
        self.words = words
        self.unigram = np.full(len(words) + 1, -1, dtype=np.int64)  # by word number; the last: unknown words
        self.unigram[list(unigrams)] = list(unigrams.values())
        # Sorted pair keys, after a first one no pair has (-1): a search always lands on a key, even without bigrams.
        pairs = np.array([(-1, -1)] + sorted((a * len(words) + b, index) for (a, b), index in bigrams.items()),
                         dtype=np.int64)
        self.pair_keys, self.pair_terms = pairs[:, 0], pairs[:, 1]

    def _numbers(self, tokens: list[str]) -> np.ndarray:
        return np.fromiter(map(self.words.get, tokens, repeat(len(self.words))), dtype=np.int64, count=len(tokens))

    def _words(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Each token's word number (len(words) for a word of no term) and the number of its text, in order."""
        import pyarrow as pa
        import pyarrow.compute as pc

        column = pa.array(texts, type=pa.large_string())
        other = np.asarray(pc.match_substring(column, "&")).astype(bool)
        plain = np.flatnonzero(~other)
        # Runs of a-z: the letters are a-z and spaces, Arrow splits them at spaces, one list of runs per text.
        runs = pc.ascii_split_whitespace(keywords.letters(column.take(pa.array(plain))))
        flat = pc.list_flatten(runs)
        text_of = plain[np.asarray(pc.list_parent_indices(runs))]
        long_enough = np.asarray(pc.greater_equal(pc.binary_length(flat), 2))
        kept = pc.dictionary_encode(flat.filter(pa.array(long_enough)))
        numbers = self._numbers(kept.dictionary.to_pylist())[np.asarray(kept.indices)]
        text_of = text_of[long_enough]
        if other.any():
            found = [self.pattern.findall(keywords.normalise(texts[i])) for i in np.flatnonzero(other).tolist()]
            numbers = np.concatenate([numbers, self._numbers(list(chain.from_iterable(found)))])
            text_of = np.concatenate([text_of, np.repeat(np.flatnonzero(other), [len(f) for f in found])])
            order = np.argsort(text_of, kind="stable")  # the texts with "&" were read after the others
            numbers, text_of = numbers[order], text_of[order]
        return numbers, text_of

    def counts(self, texts: list[str]):
        """The count matrix of the raw ``texts``, normalised here."""
        import scipy.sparse as sp

        words, text_of = self._words(texts)
        unknown = len(self.words)
        unigrams = self.unigram[words]
        pairs = words[:-1] * unknown + words[1:]
        at = np.minimum(np.searchsorted(self.pair_keys, pairs), len(self.pair_keys) - 1)
        known = (words[:-1] < unknown) & (words[1:] < unknown) & (text_of[:-1] == text_of[1:]) \
            & (self.pair_keys[at] == pairs)
        terms = np.concatenate([unigrams, np.where(known, self.pair_terms[at], -1)])
        texts_of = np.concatenate([text_of, text_of[:-1]])
        found = terms >= 0
        keys, counts = np.unique(texts_of[found] * self.size + terms[found], return_counts=True)
        rows, columns = np.divmod(keys, self.size)
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=len(texts)), out=indptr[1:])
        index = np.int32 if len(keys) < np.iinfo(np.int32).max else np.int64
        return sp.csr_array((counts.astype(np.float32), columns.astype(index), indptr.astype(index)),
                            shape=(len(texts), self.size), dtype=np.float32)
