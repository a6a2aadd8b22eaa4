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
_QUOTE = 0x22
_OPENING = (0x7B, 0x5B)  # { [
_CLOSING = (0x7D, 0x5D)  # } ]
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in (_QUOTE, *_OPENING, *_CLOSING))


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


def _unescaped(raw: bytes) -> list[bytes]:
    """The bytes without their escapes (a backslash and the character it escapes), in pieces: backslashes are rare,
    so the walk jumps from one to the next."""
    pieces = []
    start = 0
    backslash = raw.find(b"\\")
    while backslash >= 0:
        pieces.append(raw[start:backslash])
        start = backslash + 2  # the escaped character (a backslash too, for "\\\\") goes with it
        backslash = raw.find(b"\\", start)
    pieces.append(raw[start:])
    return pieces


def max_depth(raw: bytes) -> int:
    """Deepest nesting of objects and arrays, brackets inside strings left out (escaped quotes accounted for).

    Exact for valid JSON, the only JSON whose depth matters (orjson refuses the rest): there a backslash only
    starts a two-character escape inside a string, so removing the escapes leaves the quotes that delimit strings.
    Only quotes and brackets are then kept (C-level byte operations), and adjacent quotes (strings without
    brackets, nearly all) dropped, which changes no bracket's side of a string: what numpy scans is a small part
    of the file."""
    pieces = _unescaped(raw) if b"\\" in raw else (raw,)
    structure = b"".join(piece.translate(None, _NOT_STRUCTURE) for piece in pieces).replace(b'""', b"")
    if not structure:
        return 0
    data = np.frombuffer(structure, dtype=np.uint8)
    outside = (np.cumsum(data == _QUOTE, dtype=np.int64) & 1) == 0
    steps = ((data == _OPENING[0]) | (data == _OPENING[1])).astype(np.int32) \
        - ((data == _CLOSING[0]) | (data == _CLOSING[1])).astype(np.int32)
    steps[~outside] = 0
    return int(np.cumsum(steps).max())


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
