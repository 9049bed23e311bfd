"""Where a broadcast stands: counts per status, failures by reason, opt-outs, cost so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Broadcast, OutboundMessage, OutboundStatus
from ..sending import OPTED_OUT_REASON


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
    """The broadcast's progress; raises LookupError for an unknown id."""
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
    if str(broadcast.status) == "sending" and not counts.get("queued") and not counts.get(
            "sending"):
        from .fanout import finish_if_done

        if finish_if_done(session, broadcast_id):
            session.refresh(broadcast)
    written = sum(counts.values())
    return Progress(broadcast_id, str(broadcast.status), max(written, broadcast.recipients),
                    counts, reasons, opted_out, Decimal(cost))
