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
import io
import json
import os
from dataclasses import dataclass, field
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


def _score_chunk(vocabulary: dict[str, int], idf: np.ndarray, coef: np.ndarray, intercept: float,
                 texts: list[str]) -> np.ndarray:
    """Scores of raw texts; normalised here, so that with two processes both cores share that work too."""
    vec = vectorizer(vocabulary)
    vec.idf_ = idf
    matrix = vec.transform([keywords.normalise(t) for t in texts])
    return np.asarray(matrix @ coef, dtype=np.float64).ravel() + intercept
