"""The dashboard's number, money and time filters, in the page's language.

``{{ level|number }}`` and ``{{ total|money }}`` go through :mod:`menus.numbers`, the one
formatter, so a coordinator and a member see the same figure the same way;
``{{ when|localtime }}`` shows a stored (UTC) time in the cooperative's time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, g

from menus import numbers

from ..db import get_session
from ..localtime import cooperative_zone
from ..models import Cooperative
from .auth import current_cooperative_id
from .i18n import language

#: Day first, 24-hour clock: how Morocco writes a date in all three languages.
TIME_FORMAT = "%d/%m/%Y %H:%M"


def number(value: Decimal | int | str) -> str:
    """A quantity as the page's language writes it (``2,5``)."""
    return numbers.number(value, language())


def money(value: Decimal | int | str) -> str:
    """An amount with the cooperative's currency (``3500 MAD``, ``12,50 درهم``)."""
    return numbers.money(value, language(), current_app.config["SETTINGS"].defaults.currency)


def zone() -> ZoneInfo:
    """The time zone of the cooperative the page shows (the configured one otherwise)."""
    if "zone" not in g:
        coop_id = current_cooperative_id() if g.get("account") is not None else None
        coop = get_session().get(Cooperative, coop_id) if coop_id is not None else None
        g.zone = cooperative_zone(coop, current_app.config["SETTINGS"])
    return g.zone


def local(value: datetime) -> datetime:
    """A stored time (naive UTC) in the cooperative's time zone."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(zone())


def localtime(value: datetime | None, fmt: str = TIME_FORMAT) -> str:
    """A stored time written in the cooperative's time zone (empty for none)."""
    return local(value).strftime(fmt) if value is not None else ""


def register(bp: Blueprint) -> None:
    """Make ``number``, ``money`` and ``localtime`` filters of every template."""
    bp.app_template_filter("number")(number)
    bp.app_template_filter("money")(money)
    bp.app_template_filter("localtime")(localtime)
