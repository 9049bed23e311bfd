"""The time zone a cooperative's members read times in, and times written in it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from .config import Settings


def cooperative_zone(cooperative: Any, settings: Settings) -> ZoneInfo:
    """The cooperative's own time zone, else the configured ``defaults.timezone``.

    The one place that decides it: every caller that shows a member's or a coordinator's
    times follows it.
    """
    return ZoneInfo(getattr(cooperative, "timezone", None) or settings.defaults.timezone)


def in_zone(at: datetime, zone: ZoneInfo) -> datetime:
    """``at`` in ``zone`` (a naive time, as SQLite returns them, is UTC)."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(zone)


#: Hours and minutes on a 24-hour clock: how Morocco writes a time, in every language.
CLOCK = "%H:%M"


def clock(at: datetime, zone: ZoneInfo) -> str:
    """The hour ``at`` shows on a phone in ``zone``: ``07:00`` (SMS replies write times so)."""
    return in_zone(at, zone).strftime(CLOCK)
