"""The one number and money formatter: pure, per language (see :mod:`menus.languages`).

USSD screens, SMS replies, the dashboard (Jinja filters) and broadcast cost previews all write
numbers through these functions, so the same number reads the same everywhere.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .languages import style

Number = Decimal | int | float | str
_CENT = Decimal("0.01")


def as_decimal(value: Number) -> Decimal | None:
    """``value`` as a finite Decimal, or None when it is not a number."""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def plain(value: Number) -> str:
    """The language-free form kept in sessions and JSON: ``120``, ``2.5`` (no exponent)."""
    number = as_decimal(value)
    if number is None:
        return str(value)
    if not number:
        number = abs(number)  # no "-0"
    if number == number.to_integral_value():
        return format(number.to_integral_value(), "f")
    return format(number.normalize(), "f")


def _with_decimal_sign(written: str, lang: str) -> str:
    decimal = style(lang).decimal
    return written.replace(".", decimal) if decimal != "." else written


def number(value: Number, lang: str) -> str:
    """A quantity as members of ``lang`` write it: ``120``, ``2,5`` (``2.5`` in English)."""
    return _with_decimal_sign(plain(value), lang)


def money(value: Number, lang: str, currency: str) -> str:
    """An amount with its currency: ``1250 MAD``, ``12,50 MAD``, ``12,50 درهم``.

    Rounded half up to the centime, as a till does; whole amounts have no decimals, others
    have two. The currency's name in ``lang`` (the code when it has none) follows.
    """
    amount = as_decimal(value)
    if amount is None:
        return f"{value} {currency}"
    try:
        amount = amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:  # beyond 28 digits: no centimes to round
        amount = amount.to_integral_value()
    if not amount:
        amount = abs(amount)  # -0.001 rounds to 0, not "-0"
    written = plain(amount) if amount == amount.to_integral_value() else f"{amount:f}"
    return f"{_with_decimal_sign(written, lang)} {style(lang).currencies.get(currency, currency)}"


def count(value: int, lang: str) -> str:
    """A count with its thousands grouped, for operators' previews: ``5,000`` (``5 000``)."""
    return f"{int(value):,}".replace(",", "," if lang == "en" else " ")


def duration(seconds: float) -> str:
    """A rough duration for a preview: ``about 4 h 10 min``, ``about 12 min``."""
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"about {minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours >= 48:
        return f"about {round(hours / 24)} days"
    return f"about {hours} h {minutes} min" if minutes else f"about {hours} h"
