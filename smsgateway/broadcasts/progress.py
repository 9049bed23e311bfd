"""Where a broadcast stands: counts per status, failures by reason, opt-outs, cost so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from redis import Redis
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import OPTED_OUT_REASON, Broadcast, BroadcastStatus, OutboundMessage, OutboundStatus

#: The fan-out's cursor (the last member id written), ``done`` once every row is written.
CURSOR_KEY = "smsgateway:broadcast:{id}:cursor"
DONE = "done"


@dataclass
class Progress:
    """Counts of one broadcast's messages, from its outbound rows."""

    broadcast_id: int
    status: str
    recipients: int
    counts: dict[str, int] = field(default_factory=dict)
    failed_by_reason: dict[str, int] = field(default_factory=dict)
    opted_out: int = 0
    cost: Decimal = Decimal("0")

    @property
    def finished(self) -> int:
        """Messages that reached a final status or were accepted by the provider."""
        return sum(self.counts.get(s, 0) for s in ("sent", "delivered", "failed", "expired"))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {"id": self.broadcast_id, "status": self.status, "recipients": self.recipients,
                **{s.value: self.counts.get(s.value, 0) for s in OutboundStatus},
                "failed_by_reason": self.failed_by_reason, "opted_out": self.opted_out,
                "cost": str(self.cost)}


def progress(session: Session, broadcast_id: int) -> Progress:
    """The broadcast's progress (it only reads); raises LookupError for an unknown id."""
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise LookupError(f"no broadcast {broadcast_id}")
    session.refresh(broadcast)
    where = OutboundMessage.broadcast_id == broadcast_id
    counts = {str(status): n for status, n in session.execute(
        select(OutboundMessage.status, func.count()).where(where)
        .group_by(OutboundMessage.status))}
    reasons = {reason or "unknown": n for reason, n in session.execute(
        select(OutboundMessage.failure_reason, func.count())
        .where(where, OutboundMessage.status == OutboundStatus.FAILED)
        .group_by(OutboundMessage.failure_reason))}
    opted_out = session.scalar(select(func.count()).where(
        where, OutboundMessage.status == OutboundStatus.FAILED,
        OutboundMessage.failure_reason == OPTED_OUT_REASON)) or 0
    cost = session.scalar(select(func.coalesce(func.sum(OutboundMessage.cost), 0))
                          .where(where)) or Decimal("0")
    written = sum(counts.values())
    return Progress(broadcast_id, str(broadcast.status), max(written, broadcast.recipients),
                    counts, reasons, opted_out, Decimal(cost))


def fan_out_done(redis: Redis, broadcast_id: int) -> bool:
    """Whether every outbound row of the broadcast has been written."""
    return redis.get(CURSOR_KEY.format(id=broadcast_id)) == DONE.encode()


def finish_if_done(session: Session, redis: Redis, broadcast_id: int) -> bool:
    """Mark the broadcast done when its fan-out ended and no message is left to send."""
    if not fan_out_done(redis, broadcast_id):
        return False
    pending = session.scalar(
        select(OutboundMessage.id).where(
            OutboundMessage.broadcast_id == broadcast_id,
            # "unknown": waiting for delivery reports, then maybe sent again (reconcile.py).
            OutboundMessage.status.in_((OutboundStatus.QUEUED, OutboundStatus.SENDING,
                                        OutboundStatus.UNKNOWN)),
        ).limit(1)
    )
    if pending is not None:
        return False
    result = session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.status == BroadcastStatus.SENDING)
        .values(status=BroadcastStatus.DONE, finished_at=utcnow())
    )
    session.commit()
    return bool(result.rowcount)


def finish_all_done(session: Session, redis: Redis) -> int:
    """Finish every sending broadcast with nothing left to send; return how many."""
    sending = session.scalars(
        select(Broadcast.id).where(Broadcast.status == BroadcastStatus.SENDING)).all()
    return sum(finish_if_done(session, redis, broadcast_id) for broadcast_id in sending)
