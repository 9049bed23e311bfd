"""The dashboard's number, money and time filters, in the page's language.

``{{ level|number }}`` and ``{{ total|money }}`` go through :mod:`menus.numbers`, the one
formatter, so a coordinator and a member see the same figure the same way;
``{{ when|localtime }}`` shows a stored (UTC) time in the cooperative's time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app

from menus import numbers

from .i18n import language

#: Day first, 24-hour clock: how Morocco writes a date in all three languages.
TIME_FORMAT = "%d/%m/%Y %H:%M"


def number(value: Decimal | int | str) -> str:
    """A quantity as the page's language writes it (``2,5``)."""
    return numbers.number(value, language())


def money(value: Decimal | int | str) -> str:
    """An amount with the cooperative's currency (``3500 MAD``, ``12,50 درهم``)."""
    return numbers.money(value, language(), current_app.config["SETTINGS"].defaults.currency)


def local(value: datetime) -> datetime:
    """A stored time (naive UTC) in the cooperative's time zone."""
    zone = ZoneInfo(current_app.config["SETTINGS"].defaults.timezone)
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(zone)


def localtime(value: datetime | None, fmt: str = TIME_FORMAT) -> str:
    """A stored time written in the cooperative's time zone (empty for none)."""
    return local(value).strftime(fmt) if value is not None else ""


def register(bp: Blueprint) -> None:
    """Make ``number``, ``money`` and ``localtime`` filters of every template."""
    bp.app_template_filter("number")(number)
    bp.app_template_filter("money")(money)
    bp.app_template_filter("localtime")(localtime)
