"""The languages members read, and how each writes numbers and money: the one list of both.

Config, the database enum, the menus, the message catalog and the SMS keywords all take their
languages from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Every language the gateway speaks, in the order menus offer them.
LANGUAGES: tuple[str, ...] = ("fr", "ar", "zgh", "en")
#: The language used where a text is missing in the reader's language.
FALLBACK = "fr"
#: Languages written in Latin letters: their texts should stay in GSM-7 (182-character
#: screens, 160-character SMS); Arabic is always UCS-2.
LATIN_SCRIPT = frozenset({"fr", "zgh", "en"})


@dataclass(frozen=True)
class NumberStyle:
    """How a language writes a number and an amount of money."""

    #: The decimal sign.
    decimal: str
    #: Currency code -> the word members read for it (else the code itself), after the number.
    currencies: dict[str, str] = field(default_factory=dict)
    #: Unit as products store it (``l``, ``kg``) -> the word members read (else the unit).
    units: dict[str, str] = field(default_factory=dict)
    #: Between the items of a list: ", ", or the Arabic comma "، " in Arabic.
    comma: str = ", "
    #: Written right to left: a signed number needs a mark to keep its sign in front.
    rtl: bool = False


# Decisions (issue 9), the same on USSD, in SMS, on the dashboard and in cost previews:
# - Decimal comma in French, Arabic and Tamazight, as written in Morocco (CLDR fr, ar-MA,
#   zgh); a point in English.
# - No thousands separator in any language: a USSD screen wraps between words, so "1 250"
#   could split over two lines, and members type numbers back without one (a "." or ","
#   between thousands would read as the decimal sign).
# - The currency after the amount, separated by a space: "12,50 MAD", "12,50 درهم" (Arabic
#   names the dirham; a Latin code inside Arabic text reads badly right to left).
# - Units (issue 15): Arabic reads لتر and كلغ, never a Latin "l" or "kg" inside Arabic text
#   (where "بl" glued a Latin letter to an Arabic one); Latin-script languages keep l, kg.
STYLES: dict[str, NumberStyle] = {
    "fr": NumberStyle(decimal=","),
    "ar": NumberStyle(decimal=",", currencies={"MAD": "درهم"}, rtl=True, comma="، ",
                      units={"l": "لتر", "L": "لتر", "kg": "كلغ", "g": "غ", "u": "وحدة",
                             "unite": "وحدة", "unit": "وحدة"}),
    "zgh": NumberStyle(decimal=","),
    "en": NumberStyle(decimal="."),
}


def style(lang: str) -> NumberStyle:
    """The number style of ``lang`` (the fallback language's for an unknown one)."""
    return STYLES.get(lang) or STYLES[FALLBACK]
