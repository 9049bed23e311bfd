"""Reading an SMS command the way a member types it: pure functions, no I/O.

Matching forgives case, accents and Arabic diacritics, extra spaces and punctuation, Eastern
Arabic digits, and one typo (or swapped pair of letters) in a keyword of four letters or more.
The keyword table is in :mod:`smsgateway.sms.keywords`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Generic, TypeVar

from .keywords import (
    ANSWERS,
    FILLER_WORDS,
    GUARDED_COMMANDS,
    KEYWORDS,
    LANGUAGE_WORDS,
    TYPO_MIN_LENGTH,
    UNIT_WORDS,
)

# Arabic-Indic (U+0660..) and Extended Arabic-Indic (Persian/Urdu, U+06F0..) digits, plus the
# Arabic decimal separator and comma, as members' phones produce them.
_DIGITS = {ord(c): str(i) for i, c in enumerate("٠١٢٣٤٥٦٧٨٩")}
_DIGITS.update({ord(c): str(i) for i, c in enumerate("۰۱۲۳۴۵۶۷۸۹")})
_DIGITS.update({ord("٫"): ".", ord("،"): " ", ord("؛"): " ", ord("؟"): " "})
# Arabic letters people write interchangeably (after hamzas and diacritics are dropped).
_ARABIC_FOLD = {ord("ة"): "ه", ord("ى"): "ي", ord("ـ"): None}
_NUMBER_RE = re.compile(r"^(\d+(?:[.,]\d+)?)([^\W\d]*)$")
V = TypeVar("V")
_FIRST_WORD_RE = re.compile(r"^\s*[^\s:,.;!?]+[\s:,.;!?]*(.*)$", re.DOTALL)


def normalize(text: str) -> str:
    """Lower-case ``text`` without accents, diacritics or punctuation, digits as ASCII."""
    text = unicodedata.normalize("NFKC", text.replace("\x00", " ")).translate(_DIGITS)
    text = unicodedata.normalize("NFD", text.casefold())
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    text = text.translate(_ARABIC_FOLD)
    out = []
    for ch in text:
        # Keep letters and digits, and . , inside numbers (2,5 kg); everything else separates.
        out.append(ch if ch.isalnum() or ch in ".," else " ")
    tokens = (token.strip(".,") for token in "".join(out).split())
    return " ".join(token for token in tokens if token)


def typo_distance(a: str, b: str, limit: int = 1) -> int:
    """Edit distance counting a swap of two neighbours as one edit; stops above ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], prev2[j - 2] + 1)
        if min(row) > limit:
            return limit + 1
        prev2, prev = prev, row
    return prev[-1]


class TypoIndex(Generic[V]):
    """A table looked up exactly or with one typo, fast: each key is also filed under every
    spelling with one letter dropped, so a word only meets the few keys it could be near."""

    def __init__(self, table: Mapping[str, V]) -> None:
        self.table = dict(table)
        self._near: dict[str, set[str]] = {}
        self._longest = max((len(key) for key in self.table), default=0)
        for key in self.table:
            if len(key) >= TYPO_MIN_LENGTH:
                for variant in _one_dropped(key) | {key}:
                    self._near.setdefault(variant, set()).add(key)

    def get(self, word: str) -> V | None:
        """The value for ``word``, or for the one key a typo away; None if none or several."""
        if word in self.table:
            return self.table[word]
        if not TYPO_MIN_LENGTH <= len(word) <= self._longest + 1:
            return None
        keys: set[str] = set()
        for variant in _one_dropped(word) | {word}:
            keys |= self._near.get(variant, set())
        found = {self.table[key] for key in keys if typo_distance(word, key) <= 1}
        return found.pop() if len(found) == 1 else None


def _one_dropped(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


def close_match(word: str, table: Mapping[str, V]) -> V | None:
    """The value of ``table`` whose key is ``word`` or one typo away; None if none or several."""
    index = table if isinstance(table, TypoIndex) else TypoIndex(table)
    return index.get(word)


_KEYWORD_TABLE = {normalize(word): name for name, words in KEYWORDS.items() for word in words}
_KEYWORDS = TypoIndex(_KEYWORD_TABLE)
_ANSWERS = TypoIndex({normalize(word): value for value, words in ANSWERS.items()
                      for word in words})
_LANGUAGES = TypoIndex({normalize(word): code for code, words in LANGUAGE_WORDS.items()
                        for word in words})
_UNITS = frozenset(normalize(word) for word in UNIT_WORDS)
_FILLERS = frozenset(normalize(word) for word in FILLER_WORDS)


def _near_another_command(word: str, name: str) -> bool:
    # A slip that could also be a slip on another keyword, even a short one (OUIT: QUIT or
    # OUI?), is not read as a command that cannot be taken back by accident.
    return any(other != name and typo_distance(word, key) <= 1
               for key, other in _KEYWORD_TABLE.items())


@dataclass(frozen=True)
class Command:
    """A message read as a command: its name and the normalized words after the keyword."""

    name: str
    args: tuple[str, ...] = ()
    # What followed the keyword as the member wrote it (the text of an ALERTE).
    rest: str = ""
    # The keyword was recognised despite a typo.
    corrected: bool = False


UNKNOWN = "unknown"
EMPTY = "empty"


def parse(text: str) -> Command:
    """Read a message: the command its first word names (``unknown`` when none)."""
    tokens = normalize(text).split()
    if not tokens:
        return Command(EMPTY)
    first, args = tokens[0], tuple(tokens[1:])
    name = _KEYWORD_TABLE.get(first)
    corrected = False
    if name is None:
        name = _KEYWORDS.get(first)
        corrected = name is not None
        if name in GUARDED_COMMANDS and _near_another_command(first, name):
            name = None
    if name is None:
        return Command(UNKNOWN, tuple(tokens))
    match = _FIRST_WORD_RE.match(text.replace("\x00", " "))
    rest = match.group(1).strip() if match else ""
    return Command(name, args, rest, corrected)


def answer(word: str) -> str | None:
    """``yes`` or ``no`` for an answer word in any language (one typo forgiven), else None."""
    return _ANSWERS.get(word)


def language(word: str) -> str | None:
    """The language code a member named (``fr``, ``ar``, ``zgh``, ``en``), else None."""
    return _LANGUAGES.get(word)


def number(word: str) -> Decimal | None:
    """A positive quantity written ``5``, ``2,5``, ``2.5`` or ``5kg``; None otherwise."""
    match = _NUMBER_RE.match(word)
    if match is None or (match.group(2) and match.group(2) not in _UNITS):
        return None
    try:
        value = Decimal(match.group(1).replace(",", "."))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def integer(word: str) -> int | None:
    """An id written with digits (``12``, ``#12`` arrives here as ``12``); None otherwise."""
    return int(word) if word.isdigit() and len(word) <= 9 else None


def split_quantity(args: Iterable[str]) -> tuple[list[Decimal], list[str]]:
    """Separate the numbers from the other words, dropping units and filler words."""
    numbers: list[Decimal] = []
    words: list[str] = []
    for word in args:
        value = number(word)
        if value is not None:
            numbers.append(value)
        elif word not in _UNITS and word not in _FILLERS:
            words.append(word)
    return numbers, words


@dataclass(frozen=True)
class ProductAlias:
    """The words that name one product: its code, its names, and their distinctive words."""

    product_id: int
    phrases: frozenset[str]
    words: frozenset[str]


def product_aliases(products: Iterable[tuple[int, str, Mapping[str, str]]]
                    ) -> list[ProductAlias]:
    """Aliases for ``(id, code, names)`` rows; a word two products share names neither."""
    rows = list(products)
    words_of: dict[int, set[str]] = {}
    phrases_of: dict[int, set[str]] = {}
    for product_id, code, names in rows:
        phrases = {normalize(code)} | {normalize(name) for name in names.values() if name}
        phrases.discard("")
        phrases_of[product_id] = phrases
        words_of[product_id] = {w for p in phrases for w in p.split()
                                if len(w) >= 3 and w not in _FILLERS and w not in _UNITS}
    counts: dict[str, int] = {}
    for words in words_of.values():
        for word in words:
            counts[word] = counts.get(word, 0) + 1
    return [ProductAlias(pid, frozenset(phrases_of[pid]),
                         frozenset(w for w in words_of[pid] if counts[w] == 1))
            for pid, _code, _names in rows]


def match_product(words: list[str], aliases: Iterable[ProductAlias]) -> list[int]:
    """Ids of the products ``words`` name: exact phrase, a distinctive word, or one typo."""
    aliases = list(aliases)
    if not words:
        return []
    phrase = " ".join(words)
    exact = [a.product_id for a in aliases if phrase in a.phrases]
    if exact:
        return exact
    found = [a.product_id for a in aliases if any(w in a.words for w in words)]
    if found:
        return found
    table: dict[str, int] = {}
    for alias in aliases:
        for word in alias.words:
            table[word] = alias.product_id
    fuzzy = {close_match(w, table) for w in words}
    fuzzy.discard(None)
    return sorted(fuzzy)  # type: ignore[arg-type]
