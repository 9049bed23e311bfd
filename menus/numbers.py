"""The one number and money formatter: pure, per language (see :mod:`menus.languages`).

USSD screens, SMS replies, the dashboard (Jinja filters) and broadcast cost previews all write
numbers through these functions, so the same number reads the same everywhere.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

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
    if number == number.to_integral_value():
        return str(number.quantize(Decimal(1)))
    return format(number.normalize(), "f")


def number(value: Number, lang: str) -> str:
    """A quantity as members of ``lang`` write it: ``120``, ``2,5`` (``2.5`` in English)."""
    written = plain(value)
    decimal = style(lang).decimal
    return written.replace(".", decimal) if decimal != "." else written


def money(value: Number, lang: str, currency: str) -> str:
    """An amount with its currency: ``1250 MAD``, ``12,50 MAD``, ``12,50 درهم``.

    Whole amounts have no decimals; others are written to the centime.
    """
    amount = as_decimal(value)
    if amount is None:
        return f"{value} {currency}"
    amount = amount.quantize(_CENT)
    written = plain(amount) if amount == amount.to_integral_value() else f"{amount:f}"
    lang_style = style(lang)
    if lang_style.decimal != ".":
        written = written.replace(".", lang_style.decimal)
    return f"{written} {lang_style.currencies.get(currency, currency)}"
