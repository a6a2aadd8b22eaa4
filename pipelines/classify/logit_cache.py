"""Text-model logits of the last run's texts, kept in the cache folder so that the next run scores only new texts.

The text model is the costliest part of classifying (normalisation and TF-IDF over every distinct ``objet``, about
30 µs a text); a daily or monthly run sees the same history again. The logits of the distinct texts of a run are
written to ``<cache>/logits-<table>-<key>.parquet``, ``key`` digesting the model file as loaded, the code that turns a
text into a logit (normalisation, tokenisation) and the versions of the libraries and Unicode tables it runs on:
another model, other code or another environment never reads them. Each run replaces the file
with its own texts, so it does not grow with texts that left the history. Float64 values are stored exactly: a
cached logit is the logit computed again (tests/test_logit_cache.py). ``ACHATS_CACHE_DIR=off`` scores every text.
"""

from __future__ import annotations

import functools
import hashlib
import io
import platform
import unicodedata
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..files import atomic_write_bytes
from . import keywords, text_model
from .text_model import TextModel

PREFIX = "logits-"
# New texts scored at a time: a national first run has about 700,000, a few hundred MB as Python strings. Chunks
# stay above text_model.PARALLEL_MIN_TEXTS, so that each is still scored on both cores.
SCORE_CHUNK_TEXTS = 300_000


@functools.lru_cache(maxsize=8)
def cache_key(model_digest: str) -> str:
    """The model's file (as loaded), the code turning a text into a logit and the libraries it runs on.

    Library versions are read from the installed distributions: importing scikit-learn costs seconds, and a run
    whose texts are all cached never needs it."""
    digest = hashlib.sha256(model_digest.encode())
    for module in (keywords, text_model):
        digest.update(Path(module.__file__).read_bytes())
    for version in (metadata.version("scikit-learn"), metadata.version("scipy"), np.__version__,
                    platform.python_version(), unicodedata.unidata_version):
        digest.update(b"\0" + version.encode())
    return digest.hexdigest()[:16]


def _read(path: Path) -> pa.Table | None:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException):
        return None  # absent or damaged: every text is scored again
    if table.schema.names != ["texte", "logit"] or not pa.types.is_string(table.schema.field("texte").type):
        return None
    return table


def _write(path: Path, texts: pa.Array, logits: np.ndarray, stale_pattern: str) -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"texte": texts, "logit": pa.array(logits, type=pa.float64())}), buffer,
                   compression="zstd")
    try:
        atomic_write_bytes(path, buffer.getvalue())
        for stale in path.parent.glob(stale_pattern):
            if stale != path:
                stale.unlink(missing_ok=True)
    except OSError:
        pass  # a cache that cannot be written only costs time at the next run


def _distinct_texts(texts: pd.Series) -> tuple[np.ndarray, pa.Array] | None:
    """(code of each text's distinct value, -1 where missing; the distinct texts in order of first appearance), or
    None when a value is not text. Text columns are encoded in Arrow: a national million of texts never becomes
    Python objects when the cache knows them all (they cost about a gigabyte at the run's peak)."""
    if isinstance(texts.array, pd.arrays.ArrowStringArray):
        array = pa.array(texts.array)
        encoded = pc.dictionary_encode(array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array)
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.intp, copy=False)
        return codes, encoded.dictionary.cast(pa.string())
    codes, uniques = pd.factorize(texts.astype(object), sort=False, use_na_sentinel=True)
    if not all(isinstance(t, str) for t in uniques):
        return None
    return codes, pa.array(list(uniques), type=pa.string())


def cached_logits(model: TextModel, texts: pd.Series, folder: Path, key: str, name: str) -> np.ndarray:
    """``model.logits(texts)``, taking the logits of texts scored by the previous run from ``folder``; ``name``: the
    table the texts come from (each table keeps its own file)."""
    distinct = _distinct_texts(texts)
    if distinct is None:  # the cache holds texts only
        return model.logits(texts)
    codes, unique_texts = distinct
    path = Path(folder) / f"{PREFIX}{name}-{key}.parquet"
    scores = np.empty(len(unique_texts) + 1, dtype=np.float64)
    known = np.zeros(len(unique_texts), dtype=bool)
    cached = _read(path)
    if cached is not None and len(unique_texts):
        positions = pc.index_in(unique_texts, value_set=cached.column("texte").combine_chunks())
        known = positions.is_valid().to_numpy(zero_copy_only=False)
        if known.any():
            at = pc.drop_null(positions).to_numpy(zero_copy_only=False)
            scores[:-1][known] = cached.column("logit").to_numpy()[at]
    new = np.flatnonzero(~known)
    if len(new):
        # By chunks: the texts become Python objects (the model tokenises them) a chunk at a time.
        for part in np.array_split(new, -(-len(new) // SCORE_CHUNK_TEXTS)):
            scores[:-1][part] = model.logits(pd.Series(unique_texts.take(pa.array(part)).to_pylist(), dtype=object))
        _write(path, unique_texts, scores[:-1], f"{PREFIX}{name}-*.parquet")
    # A missing text: the intercept alone, as model.logits scores it (an empty row of the TF-IDF matrix).
    scores[-1] = np.float64(0.0) + model.intercept
    return scores[codes]  # code -1 (missing text) picks the last entry
