"""Quiet hours and expiry: when a broadcast may go out, and when it is too late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ..config import Settings


def in_quiet_hours(settings: Settings, at: datetime) -> bool:
    """Whether ``at`` falls in the configured quiet hours (local time of defaults.timezone)."""
    quiet = settings.quiet_hours
    if not quiet.enabled:
        return False
    start, end = quiet.as_times()
    local = at.astimezone(ZoneInfo(settings.defaults.timezone)).time()
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_hours_end(settings: Settings, at: datetime) -> datetime:
    """The first moment at or after ``at`` outside quiet hours (UTC)."""
    if not in_quiet_hours(settings, at):
        return at
    zone = ZoneInfo(settings.defaults.timezone)
    _, end = settings.quiet_hours.as_times()
    local = at.astimezone(zone)
    candidate = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(UTC)


def send_time(settings: Settings, urgent: bool, wanted: datetime) -> datetime:
    """When a broadcast wanted at ``wanted`` may start: urgent alerts pass quiet hours."""
    return wanted if urgent else quiet_hours_end(settings, wanted)


def default_expiry(settings: Settings, starts: datetime) -> datetime:
    """A broadcast not sent this long after its start is stale."""
    return starts + timedelta(hours=settings.broadcast.default_expiry_hours)
