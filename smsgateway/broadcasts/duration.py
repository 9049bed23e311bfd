"""How long a broadcast takes on its cooperative's channels: the preview's estimate.

Each channel sends at its pace (:func:`smsgateway.channels.rates_of`, segments per second);
a pool sends at the sum of its channels' paces, as the fan-out deals messages in proportion
to them (:func:`smsgateway.services.routing.spread`) and the send jobs keep each one busy.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from menus.numbers import count, duration

from ..channels import rates_of
from ..config import Settings
from ..models import OutboundMessage, OutboundStatus
from ..services import routing


@dataclass(frozen=True)
class Estimate:
    """A broadcast's expected sending time on the channels that would carry it."""

    recipients: int
    segments: int
    channels: int
    kind: str
    #: Segments per hour of the whole pool, and of its slowest and fastest channel.
    per_hour: float
    slowest: float
    fastest: float
    seconds: float
    urgent: bool = False

    def describe(self) -> str:
        """``5,000 recipients, 2 phones at 600 SMS/h: about 4 h 10 min``."""
        noun = "phone" if self.kind == "android" else "channel"
        many = f"{self.channels} {noun}s" if self.channels > 1 else f"1 {noun}"
        rate = (f"{many} at {count(round(self.fastest), 'en')} SMS/h"
                if round(self.slowest) == round(self.fastest)
                else f"{many}, {count(round(self.per_hour), 'en')} SMS/h in all")
        line = (f"{count(self.recipients, 'en')} recipients, {rate}: "
                f"{duration(self.seconds)}")
        return line + ("; urgent alerts first" if self.urgent else "")


def estimate(session: Session, settings: Settings, cooperative_id: int | None,
             recipients: int, segments: int, *, urgent: bool = False) -> Estimate:
    """How long ``recipients`` messages of ``segments`` segments take on the pool now."""
    pool = routing.pool(session, settings, cooperative_id)
    paces = [rates_of(c, settings).per_second * 3600 for c in pool]
    per_second = sum(paces) / 3600
    kinds = {c.kind for c in pool}
    total = recipients * max(segments, 1)
    return Estimate(recipients=recipients, segments=max(segments, 1), channels=len(pool),
                    kind=kinds.pop() if len(kinds) == 1 else "mixed",
                    per_hour=per_second * 3600, slowest=min(paces), fastest=max(paces),
                    seconds=total / per_second if per_second
                    else 0.0, urgent=urgent)


def remaining(session: Session, settings: Settings, cooperative_id: int | None,
              broadcast_id: int, *, urgent: bool = False) -> Estimate:
    """The estimate for what of a broadcast is still waiting to be sent."""
    left, segments = session.execute(
        select(func.count(), func.coalesce(func.sum(OutboundMessage.segments), 0))
        .where(OutboundMessage.broadcast_id == broadcast_id,
               OutboundMessage.status.in_((OutboundStatus.QUEUED, OutboundStatus.SENDING)))
    ).one()
    per = round(int(segments) / left) if left else 1
    return estimate(session, settings, cooperative_id, int(left), per, urgent=urgent)
