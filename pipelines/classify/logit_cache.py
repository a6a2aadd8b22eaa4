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

from ..arrow_codes import dictionary_codes
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


def _path(folder: Path, name: str, key: str) -> Path:
    """The logits file of table ``name`` under the model and code digested in ``key``."""
    return Path(folder) / f"{PREFIX}{name}-{key}.parquet"


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
    found = dictionary_codes(texts)
    if found is not None:
        return found
    codes, uniques = pd.factorize(texts.astype(object), sort=False, use_na_sentinel=True)
    if not all(isinstance(t, str) for t in uniques):
        return None
    return codes, pa.array(list(uniques), type=pa.string())


def _known(unique_texts: pa.Array, scores: np.ndarray, known: np.ndarray, table: pa.Table | None) -> None:
    """Take the logits ``table`` (texte, logit) holds for ``unique_texts`` into ``scores`` and ``known``."""
    if table is None or not len(unique_texts) or not table.num_rows:
        return
    positions = pc.index_in(unique_texts, value_set=table.column("texte").combine_chunks())
    found = positions.is_valid().to_numpy(zero_copy_only=False)
    if found.any():
        at = pc.drop_null(positions).to_numpy(zero_copy_only=False)
        scores[found] = table.column("logit").to_numpy()[at]
        known |= found


def cached_logits(model: TextModel, texts: pd.Series, folder: Path, key: str, name: str,
                  scored: pa.Table | None = None) -> np.ndarray:
    """``model.logits(texts)``, taking the logits of texts scored by the previous run from ``folder``; ``name``: the
    table the texts come from (each table keeps its own file); ``scored``: logits already computed in this run
    (``prescore``), taken as well."""
    distinct = _distinct_texts(texts)
    if distinct is None:  # the cache holds texts only
        return model.logits(texts)
    codes, unique_texts = distinct
    path = _path(folder, name, key)
    scores = np.empty(len(unique_texts) + 1, dtype=np.float64)
    known = np.zeros(len(unique_texts), dtype=bool)
    _known(unique_texts, scores[:-1], known, _read(path))
    stale = not known.all()  # the file lacks texts of this run: it is written again with them
    _known(unique_texts, scores[:-1], known, scored)
    new = np.flatnonzero(~known)
    if len(new):
        # By chunks: the texts become Python objects (the model tokenises them) a chunk at a time.
        for part in np.array_split(new, -(-len(new) // SCORE_CHUNK_TEXTS)):
            scores[:-1][part] = model.logits(pd.Series(unique_texts.take(pa.array(part)).to_pylist(), dtype=object))
    if stale:
        _write(path, unique_texts, scores[:-1], f"{PREFIX}{name}-*.parquet")
    # A missing text: the intercept alone, as model.logits scores it (an empty row of the TF-IDF matrix).
    scores[-1] = np.float64(0.0) + model.intercept
    return scores[codes]  # code -1 (missing text) picks the last entry


# Texts scored between two looks at the stop signal: about 0.3 s of work, the most a caller waits once it stops.
PRESCORE_CHUNK_TEXTS = 10_000


def prescore(model: TextModel, texts: pd.Series, folder: Path, key: str, name: str, stop) -> pa.Table:
    """Logits of the distinct ``texts`` the cache folder does not know, scored chunk after chunk (in order of first
    appearance) until the event ``stop`` is set: a table (texte, logit) for ``cached_logits(scored=...)``.

    The run starts it in a forked process on the texts just read, while it consolidates them on the other core; the
    texts left when it stops are scored in the classification, as any other. A text's logit does not depend on the
    texts scored with it, so the split changes no score (tests/test_logit_cache.py)."""
    empty = pa.table({"texte": pa.array([], pa.string()), "logit": pa.array([], pa.float64())})
    distinct = _distinct_texts(texts)
    if distinct is None or stop.is_set():
        return empty
    _, unique_texts = distinct
    known = np.zeros(len(unique_texts), dtype=bool)
    _known(unique_texts, np.empty(len(unique_texts)), known, _read(_path(folder, name, key)))
    new = np.flatnonzero(~known)
    scorer, parts, logits = None, [], []
    for start in range(0, len(new), PRESCORE_CHUNK_TEXTS):
        if stop.is_set():
            break
        scorer = scorer or model.scorer()
        part = unique_texts.take(pa.array(new[start:start + PRESCORE_CHUNK_TEXTS]))
        logits.append(scorer(part.to_pylist()))
        parts.append(part)
    if not parts:
        return empty
    return pa.table({"texte": pa.concat_arrays(parts), "logit": pa.array(np.concatenate(logits), pa.float64())})
