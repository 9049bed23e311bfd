"""Replies to SMS commands: a thin accessor to the one message catalog (``menus/texts.yaml``).

The texts themselves, in every language, live in the catalog with the USSD messages; numbers
and amounts are written by the one formatter (:mod:`menus.numbers`). This module keeps the
names the SMS code has always imported.
"""

from __future__ import annotations

from menus.catalog import all_languages, packaged, text
from menus.languages import FALLBACK
from menus.numbers import listing, money, number, unit

__all__ = ["FALLBACK", "all_languages", "listing", "money", "number", "status_name", "text", "unit"]


def status_name(status: str, language: str) -> str:
    """An order status as a word of ``language`` (the status itself when it has none)."""
    key = f"order_status_{status}"
    return text(key, language) if key in packaged() else status
