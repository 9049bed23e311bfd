"""Alerts: a coordinator sends one text (per language) to her members, follows it, cancels it.

The dashboard, SMS ``ALERTE`` and the CLI all start, list and cancel alerts here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from redis import Redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .. import broadcasts
from ..config import Settings
from ..db import utcnow
from ..models import Broadcast, BroadcastStatus, Channel, Member, OutboundMessage, OutboundStatus
from . import audit
from .outcome import Money, Notice, Outcome, refused

#: What a cancelled alert's unsent messages say of themselves.
CANCELLED_REASON = "cancelled"
#: An alert in these states has messages left to send, so it can still be cancelled.
CANCELLABLE = (BroadcastStatus.SCHEDULED, BroadcastStatus.QUEUED, BroadcastStatus.SENDING)


def start_alert(session: Session, actor: Member, texts: dict[str, str], *, urgent: bool,
                channel: Channel, settings: Settings, redis: Redis,
                audience: Mapping[str, Any] | None = None, fold: bool = False,
                scheduled_at: datetime | None = None, expires_at: datetime | None = None,
                cooperative_id: int | None = None, refuse_empty: bool = False) -> Outcome:
    """Hand an alert to the broadcast queue; its fan-out starts once the caller has committed.

    ``audience`` narrows her cooperative's members (groups, roles, languages); it never
    reaches another cooperative. Errors: ``not_allowed``, ``no_text``, and ``no_recipient``
    when ``refuse_empty`` (the dashboard; a quick alert to no one simply ends at once).
    The actor gets a receipt with the audience and the cost.
    """
    if not actor.is_coordinator:
        return refused("not_allowed")
    coop = cooperative_id if cooperative_id is not None else actor.cooperative_id
    filters = {key: list(audience.get(key) or ()) for key in ("groups", "roles", "languages")
               } if audience else {}
    filters["cooperatives"] = [coop]
    try:
        if refuse_empty and broadcasts.plan(session, settings, cooperative_ids=[coop],
                           groups=filters.get("groups", ()), roles=filters.get("roles", ()),
                           languages=filters.get("languages", ()), texts=texts,
                           fold=fold).recipients == 0:
            return refused("no_recipient")
        broadcast = broadcasts.create(
            session, settings, cooperative_id=coop, audience=filters, texts=texts,
            urgent=urgent, fold=fold, scheduled_at=scheduled_at, expires_at=expires_at,
            created_by=actor, created_by_label=f"{channel.value}:{actor.phone}",
            channel=channel.value)
    except ValueError:
        return refused("no_text")
    broadcast_id, when = broadcast.id, broadcast.scheduled_at
    values = {"broadcast": broadcast_id, "recipients": broadcast.recipients,
              "cost": Money(broadcast.estimated_cost)}
    return Outcome(params=values, subject=broadcast,
                   notices=[Notice(actor, "sms_alert_queued", values, to_actor=True)],
                   after_commit=[lambda: broadcasts.start_fan_out(redis, broadcast_id, when,
                                                                  urgent)])


def alerts_of(session: Session, cooperative_ids: Iterable[int], limit: int = 50
              ) -> list[Broadcast]:
    """The latest alerts of these cooperatives, newest first."""
    return list(session.scalars(
        select(Broadcast).where(Broadcast.cooperative_id.in_(list(cooperative_ids)))
        .order_by(Broadcast.id.desc()).limit(limit)))


def find_alert(session: Session, broadcast_id: int,
               cooperative_ids: Iterable[int] | None) -> Broadcast | None:
    """The alert, if it exists and belongs to one of ``cooperative_ids`` (None: any)."""
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None:
        return None
    if cooperative_ids is not None and broadcast.cooperative_id not in set(cooperative_ids):
        return None
    return broadcast


def cancel_alert(session: Session, broadcast_id: int, *, channel: Channel | str,
                 actor: Member | None = None, actor_label: str = "",
                 cooperative_ids: Iterable[int] | None = None) -> Outcome:
    """Stop what has not gone yet: the alert is cancelled, its waiting messages dropped.

    Messages already handed to the provider stay as they are. Errors: ``not_found`` (also
    for another cooperative's alert), ``already_finished``. ``params["dropped"]`` counts the
    messages that will not be sent. The caller commits.
    """
    broadcast = find_alert(session, broadcast_id, cooperative_ids)
    if broadcast is None:
        return refused("not_found")
    # One conditional UPDATE: of two cancels, or a cancel and the end of the sending,
    # exactly one changes the status.
    changed = session.execute(
        update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.status.in_(CANCELLABLE))
        .values(status=BroadcastStatus.CANCELLED, finished_at=utcnow())).rowcount
    if not changed:
        session.refresh(broadcast)
        return refused("already_finished", broadcast, status=str(broadcast.status))
    # Rows still queued are dropped now (a send job only claims queued rows); the rows a
    # running fan-out writes later are dropped by the sender, which skips cancelled alerts.
    dropped = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.broadcast_id == broadcast_id,
               OutboundMessage.status == OutboundStatus.QUEUED)
        .values(status=OutboundStatus.EXPIRED, status_at=utcnow(),
                failure_reason=CANCELLED_REASON)).rowcount
    audit.record(session, "broadcast.cancel", "broadcast", broadcast_id, channel=str(channel),
                 actor=actor, actor_label=actor_label, cooperative_id=broadcast.cooperative_id,
                 details={"dropped": dropped})
    session.refresh(broadcast)
    return Outcome(params={"broadcast": broadcast_id, "dropped": dropped}, subject=broadcast)
