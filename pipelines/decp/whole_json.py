"""A DECP JSON file parsed whole by orjson, with the garbage collector paused: 3-4 times faster than the stream.

The streaming reader (readers._read_json) stays the reference: this path only answers when its result is certain
to be the stream's, record for record, and returns None otherwise, so that the stream decides (and words any
error) exactly as before: bytes orjson refuses (invalid JSON or UTF-8, NaN, integers beyond 64 bits, nesting past
orjson's 1,024 levels), a document nested deeper than MAX_JSON_DEPTH anywhere (the stream rejects those records or
the file), list keys written twice (orjson keeps the last, the stream reads both), shapes that are not DECP.
Files larger than ``WHOLE_JSON_MAX_BYTES`` are always streamed: the whole tree of a 256 MB file takes about 1.3 GB.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import orjson

WHOLE_JSON_MAX_BYTES = 256 * 1024 * 1024
# Keys that hold record lists: written twice, orjson would keep only the last list.
_LIST_KEYS = (b'"marches"', b'"marche"', b'"contrat-concession"')
_QUOTE, _BACKSLASH = 0x22, 0x5C
_OPENING = (0x7B, 0x5B)  # { [
_CLOSING = (0x7D, 0x5D)  # } ]


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic GC off while a large tree of objects is built (it would scan it again and again: 60-75 % of the
    parse time, reference/performance.md §2); back to its previous state afterwards, whatever happens."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def max_depth(raw: bytes) -> int:
    """Deepest nesting of objects and arrays, brackets inside strings left out (escaped quotes accounted for)."""
    data = np.frombuffer(raw, dtype=np.uint8)
    opening = (data == _OPENING[0]) | (data == _OPENING[1])
    closing = (data == _CLOSING[0]) | (data == _CLOSING[1])
    brackets = np.flatnonzero(opening | closing)
    if not len(brackets):
        return 0
    quotes = np.flatnonzero(data == _QUOTE)
    escaped = quotes[(quotes > 0) & (data[np.maximum(quotes - 1, 0)] == _BACKSLASH)]
    if len(escaped):
        keep = np.ones(len(quotes), dtype=bool)
        for position in escaped.tolist():
            run = 0
            while position - run - 1 >= 0 and raw[position - run - 1] == _BACKSLASH:
                run += 1
            if run % 2:
                keep[np.searchsorted(quotes, position)] = False
        quotes = quotes[keep]
    outside = np.searchsorted(quotes, brackets, side="right") % 2 == 0
    steps = np.where(opening[brackets[outside]], 1, -1).astype(np.int32)
    return int(np.cumsum(steps).max()) if len(steps) else 0


def whole_document(path: Path, size: int, max_depth_allowed: int) -> object | None:
    """The parsed document, or None when the stream must decide."""
    if size > WHOLE_JSON_MAX_BYTES:
        return None
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if any(raw.count(key) > 1 for key in _LIST_KEYS) or max_depth(raw) > max_depth_allowed:
        return None
    with gc_paused():
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
