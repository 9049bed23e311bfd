"""Quick alerts: a coordinator sends one text to every member of her cooperative."""

from __future__ import annotations

from redis import Redis
from sqlalchemy.orm import Session

from .. import broadcasts
from ..config import Settings
from ..models import Channel, Member
from .outcome import Money, Notice, Outcome, refused


def start_alert(session: Session, actor: Member, texts: dict[str, str], *, urgent: bool,
                channel: Channel, settings: Settings, redis: Redis) -> Outcome:
    """Hand an alert to the broadcast queue; its fan-out starts once the caller has committed.

    Errors: ``not_allowed``. The actor gets a receipt with the audience and the cost.
    """
    if not actor.is_coordinator:
        return refused("not_allowed")
    coop = actor.cooperative_id
    broadcast = broadcasts.create(
        session, settings, cooperative_id=coop, audience={"cooperatives": [coop]}, texts=texts,
        urgent=urgent, created_by=actor, created_by_label=f"{channel.value}:{actor.phone}",
        channel=channel.value)
    broadcast_id, when = broadcast.id, broadcast.scheduled_at
    values = {"broadcast": broadcast_id, "recipients": broadcast.recipients,
              "cost": Money(broadcast.estimated_cost)}
    return Outcome(params=values, subject=broadcast,
                   notices=[Notice(actor, "sms_alert_queued", values, to_actor=True)],
                   after_commit=[lambda: broadcasts.start_fan_out(redis, broadcast_id, when,
                                                                  urgent)])
