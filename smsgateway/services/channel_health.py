"""Channel health: when each phone was last heard, what it said, and when it counts as down.

A phone is heard through its signed webhooks (any event; ``system:ping`` and ``app:started``
carry battery, signal and SIM details) or, in local mode, its ``/health``; an SMPP link
through its link process, which records its state while bound. One silent for
longer than ``channels.silent_after_seconds`` is marked down: it takes no more work, the
messages waiting for it move to the other channels of its pool, and the coordinators of the
cooperatives relying on it (its own, or for a shared channel those without a working channel
of their own) are told by SMS on another channel, once: only an active channel goes down.
The first event it sends brings it back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from redis import Redis
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from menus.catalog import text

from ..config import Settings
from ..db import Database, utcnow
from ..models import Cooperative, Member, MessageKind, OutboundMessage, OutboundStatus, Role
from ..models.channels import Channel, ChannelState
from . import routing

log = logging.getLogger(__name__)

#: Kinds whose channels are watched (a provider account has no "last seen"). An SMPP link
#: process writes its channel's ``last_seen`` every few seconds while bound
#: (:mod:`smsgateway.smpp.status`): a stopped or hung process goes silent like a phone.
WATCHED = frozenset({"android", "smpp"})


def seen(session: Session, channel: Channel, event: str | None = None,
         details: dict[str, Any] | None = None) -> None:
    """The channel was just heard from (the caller commits); a down channel is back."""
    channel.last_seen = utcnow()
    if details is not None or event is not None:
        merged = dict(channel.health or {})
        merged.update(details or {})
        if event:
            merged["event"] = event
        channel.health = merged
    if channel.state == ChannelState.DOWN:
        channel.state = ChannelState.ACTIVE
        log.info("channel %s (%s) is answering again", channel.id, channel.name)


def silent(session: Session, settings: Settings, now: datetime | None = None
           ) -> list[Channel]:
    """Active watched channels not heard from for longer than the configured time."""
    cutoff = (now or utcnow()) - timedelta(seconds=settings.channels.silent_after_seconds)
    heard = func.coalesce(Channel.last_seen, Channel.created_at)
    return list(session.scalars(select(Channel).where(
        Channel.state == ChannelState.ACTIVE, Channel.kind.in_(WATCHED), heard < cutoff)))


def reroute(session: Session, settings: Settings, ids: Sequence[int], away_from: Channel,
            status: OutboundStatus = OutboundStatus.QUEUED) -> int:
    """Give queued messages of ``away_from`` to the other channels of its pool, by rate.

    Returns how many moved (none when the pool has no other channel: they wait for it).
    """
    others = [c for c in routing.pool(session, settings, away_from.cooperative_id)
              if c.id != away_from.id]
    if not others or not ids:
        return 0
    slots = routing.spread([routing.weight(c) for c in others], len(ids))
    targets: dict[int, list[int]] = {}
    for message_id, slot in zip(sorted(ids), slots, strict=True):
        targets.setdefault(slot, []).append(message_id)
    for slot, moved in targets.items():
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id.in_(moved), OutboundMessage.channel_id == away_from.id,
                   OutboundMessage.status == status)
            .values(channel_id=others[slot].id, provider=others[slot].kind)
            .execution_options(synchronize_session=False))
    return len(ids)


def mark_down(session: Session, settings: Settings, channel: Channel,
              add: Callable[..., OutboundMessage]) -> list[OutboundMessage]:
    """Mark ``channel`` down, move its waiting messages, tell coordinators (uncommitted).

    ``add`` is :func:`smsgateway.outbox.add`; returns the notices to send after commit.
    """
    channel.state = ChannelState.DOWN
    waiting = list(session.scalars(select(OutboundMessage.id).where(
        OutboundMessage.channel_id == channel.id,
        OutboundMessage.status == OutboundStatus.QUEUED)))
    moved = reroute(session, settings, waiting, channel)
    log.warning("channel %s (%s) silent: marked down, %s of %s waiting messages moved",
                channel.id, channel.name, moved, len(waiting))
    return _tell_coordinators(session, settings, channel, add)


def relying_on(session: Session, channel: Channel) -> list[int]:
    """The cooperatives whose messages ``channel`` carries: its own, or, for a shared one,
    every cooperative without a working channel of its own."""
    if channel.cooperative_id is not None:
        return [channel.cooperative_id]
    served = select(Channel.cooperative_id).where(
        Channel.cooperative_id.is_not(None), Channel.state == ChannelState.ACTIVE)
    return list(session.scalars(select(Cooperative.id).where(Cooperative.id.not_in(served))
                                .order_by(Cooperative.id)))


def _tell_coordinators(session: Session, settings: Settings, channel: Channel,
                       add: Callable[..., OutboundMessage]) -> list[OutboundMessage]:
    """An SMS to each coordinator relying on the down ``channel``, on another channel of
    their pool (none when there is no other), in her language."""
    key = "channel_down" if channel.cooperative_id is not None else "channel_down_shared"
    minutes = max(1, settings.channels.silent_after_seconds // 60)
    notices: list[OutboundMessage] = []
    for coop_id in relying_on(session, channel):
        others = [c for c in routing.pool(session, settings, coop_id) if c.id != channel.id]
        if not others:
            continue
        coordinators = session.scalars(select(Member).where(
            Member.cooperative_id == coop_id, Member.role == Role.COORDINATOR,
            Member.active.is_(True)).order_by(Member.id))
        notices += [add(session, to=m.phone, kind=MessageKind.CONFIRMATION, member_id=m.id,
                        channel=max(others, key=routing.weight),
                        text=text(key, str(m.language), channel=channel.name, minutes=minutes))
                    for m in coordinators]
    return notices


def watch(settings: Settings, redis: Redis, db: Database) -> list[int]:
    """Mark down the phones silent too long (asking a local one's ``/health`` first).

    Run by the workers' maintenance; returns the ids marked down. The notices to
    coordinators are sent once the change is committed.
    """
    from .. import outbox
    from ..channels import adapter_for

    down: list[int] = []
    with db.session() as session:
        notices: list[OutboundMessage] = []
        for channel in silent(session, settings):
            if channel.kind == "android" and (channel.settings or {}).get(
                    "mode", "local") == "local" and _answers(adapter_for, channel):
                seen(session, channel, "health")
                continue
            notices += mark_down(session, settings, channel, outbox.add)
            down.append(channel.id)
        session.commit()
        outbox.send(notices, redis)
    return down


def _answers(adapter_for: Callable[[Channel], Any], channel: Channel) -> bool:
    try:
        return bool(adapter_for(channel).health())  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a phone that does not answer is what we look for
        return False


def traffic(session: Session, ids: Sequence[int], since: datetime
            ) -> dict[int, tuple[int, int]]:
    """Per channel: messages waiting for it (queued or sending), and sent since ``since``."""
    waiting = OutboundMessage.status.in_((OutboundStatus.QUEUED, OutboundStatus.SENDING))
    out = {channel_id: (0, 0) for channel_id in ids}
    rows = session.execute(
        select(OutboundMessage.channel_id,
               func.count().filter(waiting),
               func.count().filter(OutboundMessage.sent_at >= since))
        .where(OutboundMessage.channel_id.in_(list(ids)))
        .group_by(OutboundMessage.channel_id))
    for channel_id, queued, sent in rows:
        out[channel_id] = (queued, sent)
    return out


def phone_vitals(health: dict[str, Any] | None) -> tuple[Any, Any]:
    """A phone's battery (%) and signal, from a ping's ``health`` or a ``/health`` summary."""
    health = health or {}
    inner = health.get("health") if isinstance(health.get("health"), dict) else {}
    battery = inner.get("battery", health.get("battery_level"))
    signal = inner.get("signal", health.get("signal"))
    return battery, signal
