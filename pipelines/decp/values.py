"""Scalar cleaning for DECP values as they appear in the wild (numbers as text, ``NC``, odd dates, oui/non).

Each parser returns ``(value, anomaly)`` where ``anomaly`` is a short code when the input had to be repaired
or was unusable, so the published row can say what was changed (the ``anomalies`` column).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Values publishers use for "unknown"; the MINEF consolidation keeps a literal "NC".
MISSING_TOKENS = frozenset({"", "nc", "n/a", "na", "nan", "null", "none", "-", "sans objet", "[]", "{}"})

TRUE_TOKENS = frozenset({"true", "oui", "1", "vrai", "yes", "o", "y"})
FALSE_TOKENS = frozenset({"false", "non", "0", "faux", "no", "n"})

# One contract of 10 bn EUR HT or more is a typing or unit error (the whole State spends ~50 bn a year); the
# Great Expectations suite uses the same ceiling, so what normalisation keeps never blocks publication.
MAX_PLAUSIBLE_AMOUNT = 1e10
# Durations and counts beyond these are typing errors (600 months = 50 years, as in the GX suite).
MAX_PLAUSIBLE_INT = 1_000_000
EARLIEST_PLAUSIBLE_YEAR = 2000
# Plausible dates end one year after the run, as in the GX suite.
LATEST_PLAUSIBLE_DAYS = 366

_NUMBER_CLEAN = re.compile(r"[\s\u00a0\u202f€]|eur(?:os?)?$", re.IGNORECASE)
_DATE_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})")
_DATE_FR = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CPV = re.compile(r"^\s*(\d{8})(?:\s*-\s*\d)?\s*$")
_NOT_DIGIT = re.compile(r"\D")
_IDENTIFIER_NOISE = re.compile(r"[\s\u00a0.]")
# Distinct texts remembered per memoised parser: a national file repeats its buyers, dates, procedures and codes
# thousands of times; past this many distinct values (objects, amounts are never memoised) new ones are not kept.
MEMO_MAX_ENTRIES = 100_000
_UNSET = object()


def memoised_on_text(function: Callable[[object], object], integers: bool = False) -> Callable[[object], object]:
    """``function`` (pure, with an immutable result) remembered per text argument (and per integer one with
    ``integers``, in a memo of its own); other arguments go straight through (1, 1.0 and True are equal keys that
    parsers must tell apart). The shared results also travel once per pickle (file_cache), as one object
    referenced by every row."""
    memo: dict[str, object] = {}
    integer_memo: dict[int, object] = {}

    @functools.wraps(function)
    def memoised(value: object) -> object:
        cls = value.__class__
        if cls is str:
            found = memo
        elif cls is int and integers:
            found = integer_memo
        else:
            return function(value)
        result = found.get(value, _UNSET)
        if result is _UNSET:
            result = function(value)
            if len(found) < MEMO_MAX_ENTRIES:
                found[value] = result
        return result

    return memoised


_LONGEST_MISSING_TOKEN = max(len(token) for token in MISSING_TOKENS)


def is_missing(value: object) -> bool:
    if value is None:
        return True
    if value.__class__ is str and len(value) > _LONGEST_MISSING_TOKEN and not value[0].isspace() \
            and not value[-1].isspace():
        return False  # the common case, decided without stripping (casefold never shortens a text)
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and value.strip().casefold() in MISSING_TOKENS:
        return True
    return isinstance(value, (list, dict)) and not value


def clean_text(value: object) -> str | None:
    """Text with control characters removed and whitespace folded; None when missing."""
    if value.__class__ is str and len(value) > _LONGEST_MISSING_TOKEN and value.isprintable() \
            and "  " not in value and value[0] != " " and value[-1] != " ":
        # Already clean (most objects): printable means no control character and no whitespace but the plain
        # space, which appears single and inside only; and it is too long to be a missing token.
        return value
    if is_missing(value) or isinstance(value, (list, dict)):
        return None
    text = _CONTROL_CHARS.sub(" ", str(value))
    text = " ".join(text.split())
    return text or None


@memoised_on_text
def clean_label(value: object) -> str | None:
    """clean_text for the fields of few distinct values (codes, labels, buyer names)."""
    return clean_text(value)


@memoised_on_text
def fold(text: str) -> str:
    """Case-, accent- and apostrophe-insensitive key used to match vocabularies."""
    text = unicodedata.normalize("NFKD", text.replace("\u2019", "'").replace("`", "'"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.casefold().replace("-", " ").split())


def parse_amount(value: object, allow_zero: bool = False) -> tuple[float | None, str | None]:
    """Euro amount; text such as ``"30 000,00"`` is repaired, zero/negative/absurd amounts are dropped.

    ``allow_zero`` is for amounts where zero is a real value (a concession's public subsidy).
    """
    if is_missing(value):
        return None, None
    anomaly = None
    if isinstance(value, bool):
        return None, "montant_invalide"
    if isinstance(value, (int, float)):
        try:
            amount = float(value)
        except OverflowError:
            return None, "montant_aberrant"
    else:
        anomaly = "montant_texte"
        text = _NUMBER_CLEAN.sub("", str(value))
        if "," in text and "." in text:
            text = text.replace(".", "").replace(",", ".") if text.rfind(",") > text.rfind(".") else text.replace(",", "")
        else:
            text = text.replace(",", ".")
        try:
            amount = float(text)
        except (ValueError, OverflowError):
            return None, "montant_invalide"
    if math.isnan(amount):
        return None, "montant_invalide"
    if math.isinf(amount) or amount >= MAX_PLAUSIBLE_AMOUNT:
        return None, "montant_aberrant"
    # Rounded to the cent first, so that 0.004 is judged as the 0.00 it would be published as.
    amount = round(amount, 2)
    if amount < 0 or (amount == 0 and not allow_zero):
        return None, "montant_invalide"
    return amount, anomaly


@functools.partial(memoised_on_text, integers=True)
def parse_int(value: object) -> tuple[int | None, str | None]:
    """Whole number (durations, offer counts); fractional months are rounded up as the DECP rules require."""
    if is_missing(value) or isinstance(value, bool):
        return None, None
    anomaly = None
    try:
        if isinstance(value, (int, float)):
            number = float(value)
        else:
            anomaly = "nombre_texte"
            number = float(str(value).strip().replace(",", "."))
    except (ValueError, OverflowError):
        return None, "nombre_invalide"
    if math.isnan(number) or number < 0:
        return None, "nombre_invalide"
    if number > MAX_PLAUSIBLE_INT:
        return None, "nombre_aberrant"
    return int(math.ceil(number)), anomaly


def parse_bool(value: object) -> tuple[bool | None, str | None]:
    """DECP booleans: JSON true/false, XML ``oui/non/1/0``, consolidations' ``"NC"`` (unknown)."""
    if isinstance(value, bool):
        return value, None
    if is_missing(value):
        return None, None
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value), None
    token = str(value).strip().casefold()
    if token in TRUE_TOKENS:
        return True, None
    if token in FALSE_TOKENS:
        return False, None
    return None, "booleen_invalide"


_DATE_MEMO: dict[tuple[str, dt.date], tuple[dt.date | None, str | None]] = {}


def parse_date(value: object, today: dt.date | None = None) -> tuple[dt.date | None, str | None]:
    """ISO date (time and timezone suffixes dropped) or French ``JJ/MM/AAAA``; implausible years are dropped."""
    if today is None or value.__class__ is not str:
        return _parse_date(value, today)
    # Remembered per window watching the dates (and outside any window): each window still sees every date
    # judged while it is open.
    memo = _WINDOWS[-1].memo if _WINDOWS else _DATE_MEMO
    key = (value, today)
    result = memo.get(key)
    if result is None:
        result = _parse_date(value, today)
        if len(memo) < MEMO_MAX_ENTRIES:
            memo[key] = result
    return result


def _parse_date(value: object, today: dt.date | None) -> tuple[dt.date | None, str | None]:
    if is_missing(value):
        return None, None
    text = str(value).strip()
    anomaly = None
    match = _DATE_ISO.match(text)
    if match:
        year, month, day = (int(g) for g in match.groups())
        if len(text) > 10:
            anomaly = "date_avec_heure_ou_fuseau"
    else:
        match = _DATE_FR.match(text)
        if not match:
            return None, "date_invalide"
        day, month, year = (int(g) for g in match.groups())
        anomaly = "date_format_fr"
    try:
        date = dt.date(year, month, day)
    except ValueError:
        return None, "date_invalide"
    if date.year < EARLIEST_PLAUSIBLE_YEAR:
        return None, "date_implausible"
    latest = (today or dt.date.today()) + dt.timedelta(days=LATEST_PLAUSIBLE_DAYS)
    too_late = date > latest
    if _WINDOWS:
        _WINDOWS[-1].saw(date, too_late)
    if too_late:
        return None, "date_implausible"
    return date, anomaly


class DateWindow:
    """The dates a reading judged against the day it ran: the latest kept, the earliest refused as too late.

    A file read on another day gives the same rows as long as that day's limit still keeps the one and refuses the
    other (decp.file_cache reuses a file's rows on that condition)."""

    def __init__(self) -> None:
        self.latest_kept: dt.date | None = None
        self.earliest_refused: dt.date | None = None
        self.memo: dict[tuple[str, dt.date], tuple[dt.date | None, str | None]] = {}

    def __getstate__(self) -> dict:
        return {"latest_kept": self.latest_kept, "earliest_refused": self.earliest_refused}

    def __setstate__(self, state: dict) -> None:
        self.__init__()
        self.__dict__.update(state)

    def saw(self, date: dt.date, refused: bool) -> None:
        if refused:
            self.earliest_refused = min(self.earliest_refused or date, date)
        else:
            self.latest_kept = max(self.latest_kept or date, date)

    def holds_on(self, today: dt.date) -> bool:
        latest = today + dt.timedelta(days=LATEST_PLAUSIBLE_DAYS)
        return ((self.latest_kept is None or self.latest_kept <= latest)
                and (self.earliest_refused is None or self.earliest_refused > latest))


_WINDOWS: list[DateWindow] = []


@contextmanager
def watching_dates() -> Iterator[DateWindow]:
    """Record the dates ``parse_date`` judges against today while the block runs."""
    window = DateWindow()
    _WINDOWS.append(window)
    try:
        yield window
    finally:
        _WINDOWS.pop()


@memoised_on_text
def parse_cpv(value: object) -> tuple[str | None, str | None]:
    """CPV code as 8 digits; the optional check digit (``45000000-7``) is dropped."""
    text = clean_text(value)
    if text is None:
        return None, None
    digits = _CPV.match(text)
    if digits:
        return digits.group(1), None
    loose = _NOT_DIGIT.sub("", text.split("-")[0])
    if len(loose) == 8:
        return loose, "cpv_reformate"
    return None, "cpv_invalide"


@memoised_on_text
def parse_identifier(value: object) -> str | None:
    """SIRET-like identifiers: spaces and dots removed; floats from spreadsheets (``2.159E13``) restored."""
    if is_missing(value) or isinstance(value, (list, dict, bool)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = _IDENTIFIER_NOISE.sub("", str(value))
    return text or None
