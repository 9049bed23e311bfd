"""Fitting a screen's text and lines onto USSD pages: 182 GSM-7 or 80 UCS-2 characters each.

Text is only ever broken between words; a word longer than a whole page (a pasted link, a
name without spaces) is the one case cut where it must be.
"""

from __future__ import annotations

from collections.abc import Sequence

from .encoding import GSM7, GSM7_LIMIT, UCS2, length, screen_limit


def wrap(text: str, width: int, encoding: str | None = None) -> list[str]:
    """Split ``text`` into rows of at most ``width`` network characters, between words."""
    # Fast path: no row can be longer in network characters than twice its Python length.
    if 2 * len(text) <= width or length(text, encoding) <= width:
        return [text]
    rows: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if length(candidate, encoding) <= width:
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


def paginate(header: str, lines: Sequence[str], *, footer: str = "", more: str = "",
             later_footer: str = "") -> list[str]:
    """Pages of ``header`` then ``lines``; every page but the last ends with ``more``.

    Each page ends with ``footer`` (the back key), pages after the first also with
    ``later_footer`` (back to the previous page, on a screen with no back of its own), and
    each fits the limit of the screen's encoding.
    """
    tail_texts = [t for t in (more, footer, later_footer) if t]
    limit = screen_limit(header, *lines, *tail_texts)
    encoding = GSM7 if limit == GSM7_LIMIT else UCS2
    single = "\n".join([*([header] if header else []), *lines, *([footer] if footer else [])])
    if length(single, encoding) <= limit:
        return [single]
    reserve = sum(length(t, encoding) + 1 for t in tail_texts)
    width = max(10, limit - reserve)
    rows: list[str] = []
    for part in header.split("\n") if header else ():
        rows.extend(wrap(part, width, encoding))
    for line in lines:
        rows.extend(wrap(line, width, encoding))

    pages: list[list[str]] = []
    current: list[str] = []
    used = 0
    for row in rows:
        size = length(row, encoding) + (1 if current else 0)
        if current and used + size > width:
            pages.append(current)
            current, used = [row], length(row, encoding)
        else:
            current.append(row)
            used += size
    pages.append(current)

    texts = []
    for index, page in enumerate(pages):
        last = index == len(pages) - 1
        tail = [footer] if last else [more, footer]
        if index and later_footer:
            tail.append(later_footer)
        texts.append("\n".join([*page, *(t for t in tail if t)]))
    return texts
