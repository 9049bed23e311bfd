"""What an SMPP link tells its channel record: bound or not, keep-alive, window, throttling.

The link writes its state on the channel row (``last_seen`` and ``health``) when it binds,
when a bind fails, and otherwise at most every :data:`REPORT_SECONDS`, so ``channels list``,
the dashboard and ``/readyz`` show a link as they show a phone. A link that cannot bind is
marked down (routing then gives it no new work); so is one whose process stopped or hung,
once silent longer than ``channels.silent_after_seconds`` (the workers' channel watch, as for
a phone); its next bind or report brings it back.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from redis import Redis

from ..config import Settings
from ..db import Database, utcnow
from ..models.channels import Channel, ChannelState
from ..services import channel_health

log = logging.getLogger(__name__)

#: Seconds between two writes of a bound link's state (one small UPDATE each).
REPORT_SECONDS = 5.0


class Reporter:
    """Writes one link's state on its channel record, cheaply."""

    def __init__(self, db: Database, channel_id: int, every: float = REPORT_SECONDS, *,
                 settings: Settings | None = None, redis: Redis | None = None) -> None:
        self.db, self.channel_id, self.every = db, channel_id, every
        # With both, a link going down is marked as a silent phone is (its waiting messages
        # move, the coordinators relying on it are told); without, only its state changes.
        self.settings, self.redis = settings, redis
        self.reported_at: float | None = None

    def bound(self, now: float, details: dict[str, Any]) -> None:
        """The link just bound: the channel is seen and, if it was down, back."""
        self._write(now, details, up=True)

    def tick(self, now: float, details: dict[str, Any]) -> None:
        """The link is serving: write its state if the last write is old enough."""
        if self.reported_at is None or now - self.reported_at >= self.every:
            self._write(now, details, up=True)

    def unbound(self, now: float, error: str) -> None:
        """A bind failed or the link dropped: the channel shows as down, with the reason."""
        self._write(now, {"bound": False, "error": error, "window_used": 0}, up=False)

    def _write(self, now: float, details: dict[str, Any], up: bool) -> None:
        if not self.channel_id:
            return  # a link configured from the environment only: no record to update
        self.reported_at = now
        from .. import outbox

        try:
            with self.db.session() as session:
                channel = session.get(Channel, self.channel_id)
                if channel is None:
                    return
                notices: list[Any] = []
                if up:
                    channel_health.seen(session, channel, "smpp", {**details, "error": None})
                else:
                    channel.health = {**(channel.health or {}), **details, "event": "smpp"}
                    if channel.state == ChannelState.ACTIVE:
                        log.warning("channel %s (%s): SMPP link down (%s)", channel.id,
                                    channel.name, details.get("error"))
                        if self.settings is not None and self.redis is not None:
                            notices = channel_health.mark_down(session, self.settings,
                                                               channel, outbox.add)
                        else:
                            channel.state = ChannelState.DOWN
                session.commit()
                if notices and self.redis is not None:
                    outbox.send(notices, self.redis)
        except Exception:  # noqa: BLE001 - a report lost is not a reason to stop sending
            log.exception("smpp channel %s: could not record the link's state", self.channel_id)


def stamp(moment: datetime | None) -> str | None:
    """A wall-clock time as the health record keeps it (ISO, seconds)."""
    return moment.isoformat(timespec="seconds") if moment else None


def now_stamp() -> str | None:
    """The current time, as :func:`stamp` writes it."""
    return stamp(utcnow())
