"""French number, money, size and date formatting for the report (journalists copy these figures as shown).

One convention everywhere: the narrow no-break space U+202F separates thousands and precedes units
(« 1 234 567,8 », « 0,31 % », « 2,7 M€ »), the decimal mark is a comma and negative numbers take the
typographic minus U+2212. A missing value is written « n. d. » (non disponible), never « nan » or « None ».
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

NNBSP = "\u202f"  # narrow no-break space: thousands separator and space before a unit
MINUS = "\u2212"
MISSING = "n.\u00a0d."

MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")


def as_float(value: Any) -> float | None:
    """A finite float, or None for None, NaN, pd.NA, empty strings and anything that is not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def format_number(value: Any, decimals: int = 0, signed: bool = False) -> str:
    """« 1 234 567,8 » ; ``signed`` adds « + » to positive numbers (differences)."""
    number = as_float(value)
    if number is None:
        return MISSING
    # Half up, on the shortest decimal form of the float: 1.25 → « 1,3 » as a reader rounds, not « 1,2 ».
    rounded = Decimal(repr(abs(number))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    digits = f"{rounded:,.{decimals}f}".replace(",", NNBSP).replace(".", ",")
    # A value that rounds to zero carries no sign (« 0,0 », not « −0,0 »).
    is_zero = not any(c in "123456789" for c in digits)
    if number < 0 and not is_zero:
        return MINUS + digits
    if signed and number > 0 and not is_zero:
        return "+" + digits
    return digits


def format_integer(value: Any) -> str:
    return format_number(value, 0)


def _percent_decimals(percent: float) -> int:
    # Whole percentages (targets) need no decimals; shares below 10 % keep two, to be read against the 2 % and
    # 4 % targets (0,31 % ; 1,25 %); larger ones keep one.
    if abs(percent - round(percent)) < 1e-9:
        return 0
    return 2 if abs(percent) < 10 else 1


def format_percent(share: Any, decimals: int | None = None) -> str:
    """A share between 0 and 1 as a percentage: 0.0031 → « 0,31 % », 0.02 → « 2 % ».

    A positive share too small to show is « < 0,01 % » rather than a misleading « 0,00 % »."""
    number = as_float(share)
    if number is None:
        return MISSING
    percent = number * 100
    places = _percent_decimals(percent) if decimals is None else decimals
    smallest = 10 ** -places
    if 0 < percent < smallest / 2:
        return f"<{NNBSP}{format_number(smallest, places)}{NNBSP}%"
    return f"{format_number(percent, places)}{NNBSP}%"


def format_points(difference: Any, decimals: int = 2) -> str:
    """A difference of two shares in percentage points, signed: −0.0209 → « −2,09 points »."""
    number = as_float(difference)
    if number is None:
        return MISSING
    points = number * 100
    # French: singular below 2 (« 1,5 point »), plural from 2.
    unit = "points" if abs(round(points, decimals)) >= 2 else "point"
    return f"{format_number(points, decimals, signed=True)}{NNBSP}{unit}"


def format_euros(value: Any, signed: bool = False) -> str:
    """Euros, compact from a million: « 59 200 € », « 2,7 M€ », « 1,5 Md€ »."""
    number = as_float(value)
    if number is None:
        return MISSING
    if abs(number) >= 1e9:
        return f"{format_number(number / 1e9, 1, signed)}{NNBSP}Md€"
    if abs(number) >= 1e6:
        return f"{format_number(number / 1e6, 1, signed)}{NNBSP}M€"
    return f"{format_number(number, 0, signed)}{NNBSP}€"


def format_bytes(size: Any) -> str:
    """A file size in decimal units, French symbols: « 850 o », « 17,6 ko », « 7,0 Mo », « 1,2 Go »."""
    number = as_float(size)
    if number is None:
        return MISSING
    for factor, unit in ((1e9, "Go"), (1e6, "Mo"), (1e3, "ko")):
        if number >= factor:
            return f"{format_number(number / factor, 1)}{NNBSP}{unit}"
    return f"{format_number(number, 0)}{NNBSP}o"


def format_date(value: dt.date | dt.datetime | str | None) -> str:
    """« 26 novembre 2026 », « 1er mars 2024 » ; ISO strings are accepted (model card dates)."""
    if value is None:
        return MISSING
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        value = value.date()
    day = "1er" if value.day == 1 else str(value.day)
    return f"{day} {MONTHS[value.month - 1]} {value.year}"


def plural(count: Any, singular: str, plural_form: str) -> str:
    """« 0 marché », « 1 marché », « 2 marchés » (French: singular below 2), with the count formatted."""
    number = as_float(count)
    word = plural_form if number is not None and abs(number) >= 2 else singular
    return f"{format_integer(count)} {word}"
