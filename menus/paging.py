"""Fitting a screen's text and lines onto USSD pages: 182 GSM-7 or 80 UCS-2 characters each.

Text is only ever broken between words; a word longer than a whole page (a pasted link, a
name without spaces) is the one case cut where it must be.
"""

from __future__ import annotations

from collections.abc import Sequence

from .encoding import GSM7, encoding_of, length
from .model import GSM7_LIMIT, UCS2_LIMIT


def limit_for(*texts: str) -> int:
    """The page size for a screen made of ``texts``: one non-GSM-7 character makes it UCS-2."""
    return GSM7_LIMIT if all(encoding_of(t) == GSM7 for t in texts) else UCS2_LIMIT


def wrap(text: str, width: int) -> list[str]:
    """Split ``text`` into rows of at most ``width`` network characters, between words."""
    if length(text) <= width:
        return [text]
    rows: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if length(candidate) <= width:
            current = candidate
            continue
        if current:
            rows.append(current)
        while length(word) > width:
            cut = _longest_prefix(word, width)
            rows.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        rows.append(current)
    return rows


def _longest_prefix(word: str, width: int) -> int:
    cut = max(1, min(len(word), width))
    while cut > 1 and length(word[:cut]) > width:
        cut -= 1
    return cut


def paginate(header: str, lines: Sequence[str], *, footer: str = "", more: str = "") -> list[str]:
    """Pages of ``header`` then ``lines``; every page but the last ends with ``more``.

    Each page ends with ``footer`` (the back key) and fits the limit of the screen's encoding.
    """
    tail_texts = [t for t in (more, footer) if t]
    limit = limit_for(header, *lines, *tail_texts)
    reserve = sum(length(t) + 1 for t in tail_texts)
    width = max(10, limit - reserve)
    rows: list[str] = []
    for part in header.split("\n") if header else ():
        rows.extend(wrap(part, width))
    for line in lines:
        rows.extend(wrap(line, width))

    single = "\n".join([*rows, *([footer] if footer else [])])
    if length(single) <= limit and all(length(r) <= limit for r in rows):
        return [single]

    pages: list[list[str]] = []
    current: list[str] = []
    used = 0
    for row in rows:
        size = length(row) + (1 if current else 0)
        if current and used + size > width:
            pages.append(current)
            current, used = [row], length(row)
        else:
            current.append(row)
            used += size
    pages.append(current)

    texts = []
    for index, page in enumerate(pages):
        last = index == len(pages) - 1
        tail = [footer] if last else [more, footer]
        texts.append("\n".join([*page, *(t for t in tail if t)]))
    return texts
