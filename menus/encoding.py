"""GSM 03.38 and UCS-2: which encoding a text needs, how long networks count it, its segments,
and the one USSD screen limit (menus, paging, checks and the simulator all use it).

Shared by screen fitting (USSD screens) and segment counting (SMS cost), so it lives here, in
the pure package, where both can import it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# The GSM 03.38 default alphabet (ESC excluded: it only introduces the extension table).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Characters of the extension table: each costs two septets (ESC + the character).
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
_GSM7_ALL = GSM7_BASIC | GSM7_EXTENSION

#: The longest USSD screen: 182 GSM-7 characters, or 80 UTF-16 units once it needs UCS-2.
GSM7_LIMIT = 182
UCS2_LIMIT = 80

SINGLE_GSM7 = 160
MULTI_GSM7 = 153
SINGLE_UCS2 = 70
MULTI_UCS2 = 67

# Latin characters outside GSM-7 and the nearest GSM-7 spelling, so French stays cheap.
FOLDS = {
    "ê": "e", "ë": "e", "â": "a", "î": "i", "ï": "i", "ô": "o", "û": "u", "ç": "c",
    "á": "a", "í": "i", "ó": "o", "ú": "u", "ÿ": "y",
    "À": "A", "Â": "A", "Á": "A", "È": "E", "Ê": "E", "Ë": "E", "Î": "I", "Ï": "I", "Í": "I",
    "Ô": "O", "Ó": "O", "Ù": "U", "Û": "U", "Ú": "U", "Ÿ": "Y",
    "œ": "oe", "Œ": "OE",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2013": "-", "\u2014": "-", "\u2012": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u2026": "...",
    "\u00a0": " ", "\u202f": " ", "\u2007": " ", "\u2009": " ", "\u200a": " ", "\t": " ",
    "\u200b": "", "\u200e": "", "\u200f": "", "\ufeff": "",
}


@dataclass(frozen=True)
class Measure:
    """How a text travels: its encoding, its length as the network counts it, its segments."""

    encoding: str
    length: int
    segments: int

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {"encoding": self.encoding, "characters": self.length, "segments": self.segments}


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the GSM-7 alphabet or its extension."""
    # One set operation rather than a test per character: every USSD screen and SMS passes.
    return _GSM7_ALL.issuperset(text)


def encoding_of(text: str) -> str:
    """``GSM-7`` or ``UCS-2``."""
    return GSM7 if is_gsm7(text) else UCS2


def _units(text: str, encoding: str) -> list[int]:
    if encoding == GSM7:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    # UTF-16 code units: a character outside the BMP (most emoji) takes two.
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def length(text: str, encoding: str | None = None) -> int:
    """The length as the network counts it: septets for GSM-7, UTF-16 units for UCS-2."""
    # What sum(_units(...)) counts, without a list per character (screens are paged with it).
    if (encoding or encoding_of(text)) == GSM7:
        return len(text) + sum(text.count(ch) for ch in GSM7_EXTENSION)
    return len(text.encode("utf-16-le")) // 2


def measure(text: str) -> Measure:
    """Encoding, network length and number of segments of an SMS."""
    encoding = encoding_of(text)
    total = length(text, encoding)
    single, multi = (SINGLE_GSM7, MULTI_GSM7) if encoding == GSM7 else (SINGLE_UCS2, MULTI_UCS2)
    if total <= single:
        return Measure(encoding, total, 1 if total else 0)
    # Pack greedily: an escape pair or a surrogate pair is never split across two parts.
    segments, used = 1, 0
    for unit in _units(text, encoding):
        if used + unit > multi:
            segments += 1
            used = 0
        used += unit
    return Measure(encoding, total, segments)


def fold_to_gsm7(text: str) -> str:
    """Replace Latin characters outside GSM-7 by their nearest GSM-7 form (``ê`` -> ``e``).

    Characters with no Latin equivalent (Arabic, emoji) are kept: such a text stays UCS-2.
    """
    out: list[str] = []
    for ch in text:
        if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
            out.append(ch)
        elif ch in FOLDS:
            out.append(FOLDS[ch])
        else:
            base = unicodedata.normalize("NFD", ch)[0]
            out.append(base if base != ch and base in GSM7_BASIC else ch)
    return "".join(out)


def screen_limit(*texts: str) -> int:
    """The longest USSD screen for ``texts``: one character outside GSM-7 makes it UCS-2."""
    return GSM7_LIMIT if all(is_gsm7(text) for text in texts) else UCS2_LIMIT
