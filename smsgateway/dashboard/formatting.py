"""The dashboard's number and money filters: the one formatter, in the dashboard's language.

``{{ level|number }}`` and ``{{ total|money }}`` write what a member reads on her phone in
French, so a coordinator and a member see the same figure the same way.
"""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, current_app

from menus import numbers

#: The dashboard is in French (its pages and flash messages).
LANGUAGE = "fr"


def number(value: Decimal | int | str) -> str:
    """A quantity as the dashboard writes it (``2,5``)."""
    return numbers.number(value, LANGUAGE)


def money(value: Decimal | int | str) -> str:
    """An amount with the cooperative's currency (``3500 MAD``, ``12,50 MAD``)."""
    return numbers.money(value, LANGUAGE, current_app.config["SETTINGS"].defaults.currency)


def register(bp: Blueprint) -> None:
    """Make ``number`` and ``money`` filters of every template."""
    bp.app_template_filter("number")(number)
    bp.app_template_filter("money")(money)
