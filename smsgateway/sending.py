"""The send jobs: claim queued messages, hand them to their provider, record what it said.

A job claims its rows (``queued -> sending``, with a lease) and commits before any request,
then sends them one provider *round* at a time (one request for a batching provider such as
Africa's Talking; ``single_round`` one-recipient requests, sent in parallel by the Twilio
adapter) and commits each round's results, renewing the lease on the rows it still holds,
before the next. A worker killed with SIGKILL therefore leaves at most one round handed to the
provider but unrecorded: the only messages the sweep (:mod:`smsgateway.sweep`) may send twice,
once their lease (``broadcast.lease_seconds``) has passed.

A job that dies on a database error leaves its rows ``queued`` (with a job that no longer
runs) or ``sending`` (with a lease that stops being renewed): the sweep takes both back, so
no row depends on a job surviving.

The two RQ entry points (:func:`send_messages`, :func:`send_replies`) are where the worker's
app context is read; :class:`Sender` receives the settings, Redis and database it uses.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from redis import Redis
from rq import Queue
from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy.orm import Session

from handlers.base import Provider, SendError, SendResult, SmsOut

from . import reconcile
from .broadcasts.progress import finish_all_done
from .broadcasts.schedule import in_quiet_hours, quiet_hours_end
from .channels import adapter_for, rates_of
from .config import Settings
from .db import Database, get_db, utcnow
from .jobs import (
    QUEUE_FOR_KIND,
    REPLY_TURN,
    enqueue_reply_turns,
    enqueue_send,
    start_reply_turn,
)
from .models import (
    OPTED_OUT_REASON,
    Broadcast,
    BroadcastStatus,
    MessageKind,
    OutboundMessage,
    OutboundStatus,
)
from .models.channels import Channel, ChannelState
from .providers import get_provider
from .queues import PRIORITY
from .ratelimit import DailyQuota, RateLimiter
from .redisconn import get_redis
from .services import channel_health
from .services.members import set_opt_out

log = logging.getLogger(__name__)

__all__ = ["OPTED_OUT_REASON", "Sender", "send_messages", "send_replies"]

#: Longest a job sleeps for the rate limiter; beyond it the job hands its rows back.
MAX_RATE_WAIT = 2.0
#: With several channels in one job, a channel whose bucket has no room within this lets the
#: others go first.
SLICE = 0.02
#: Result fields that differ from message to message within one provider round.
PER_MESSAGE = frozenset({"id", "provider_message_id", "cost"})
_RETURNING = (OutboundMessage.id, OutboundMessage.to_phone, OutboundMessage.text,
              OutboundMessage.sender, OutboundMessage.segments, OutboundMessage.kind,
              OutboundMessage.attempts, OutboundMessage.provider, OutboundMessage.broadcast_id,
              OutboundMessage.channel_id)


def _status_is(status: OutboundStatus) -> ColumnElement[bool]:
    # Written so that no index on status can serve it: PostgreSQL without fresh statistics
    # would otherwise scan every queued row of the (broadcast, status) index for each batch
    # instead of fetching the batch's rows by primary key.
    return func.lower(OutboundMessage.status) == status.value


@dataclass(frozen=True)
class Claimed:
    """A message this job claimed: what sending it needs, without an ORM object."""

    id: int
    to_phone: str
    text: str
    sender: str | None
    segments: int
    kind: str
    attempts: int
    provider: str
    broadcast_id: int | None
    channel_id: int | None = None


def _claim_values(lease_seconds: int) -> dict[str, Any]:
    now = utcnow()
    return {"status": OutboundStatus.SENDING, "attempts": OutboundMessage.attempts + 1,
            "status_at": now, "lease_until": now + timedelta(seconds=lease_seconds)}


def claim_rows(session: Session, message_ids: Sequence[int], lease_seconds: int
               ) -> list[Claimed]:
    """Claim queued messages (``queued -> sending``); return the rows won, ready to send."""
    rows = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id.in_(message_ids), _status_is(OutboundStatus.QUEUED))
        .values(**_claim_values(lease_seconds))
        .returning(*_RETURNING)
    ).all()
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


def claim_turn(session: Session, phone: str, lease_seconds: int) -> list[Claimed]:
    """Claim the oldest :data:`REPLY_TURN` replies waiting for ``phone``'s turn."""
    waiting = (select(OutboundMessage.id)
               .where(OutboundMessage.to_phone == phone,
                      OutboundMessage.status == OutboundStatus.QUEUED,
                      OutboundMessage.job_id.is_(None),
                      OutboundMessage.kind.in_((MessageKind.REPLY, MessageKind.CONFIRMATION)))
               .order_by(OutboundMessage.id).limit(REPLY_TURN))
    ids = list(session.scalars(waiting))
    return claim_rows(session, ids, lease_seconds) if ids else []


def _wiring() -> Sender:
    # The worker runs every job inside the app's context (worker.GatewayWorker): this is where
    # a job reads what it was given, once.
    return Sender(current_app.config["SETTINGS"], get_redis(), get_db())


def send_messages(message_ids: list[int]) -> dict[str, int]:
    """Send a batch of stored messages (an RQ job: it takes ids, never objects)."""
    sender = _wiring()
    with sender.db.session() as session:
        claimed = claim_rows(session, message_ids, sender.lease)
        session.commit()
        return sender.send(session, claimed)


def send_replies(phone: str) -> dict[str, int]:
    """One turn of ``phone`` in the replies queue (an RQ job): its oldest waiting replies."""
    sender = _wiring()
    start_reply_turn(sender.redis, phone)
    with sender.db.session() as session:
        claimed = claim_turn(session, phone, sender.lease)
        session.commit()
        counts = sender.send(session, claimed)
    if len(claimed) == REPLY_TURN:
        # Maybe more are waiting: the next turn goes to the back of the queue.
        enqueue_reply_turns(sender.redis, [phone])
    return counts


class Sender:
    """Sends claimed messages with the settings, Redis and database it is given."""

    def __init__(self, settings: Settings, redis: Redis, db: Database,
                 providers: Callable[[str], Provider] = get_provider) -> None:
        self.settings = settings
        self.redis = redis
        self.db = db
        self.providers = providers
        self.lease = settings.broadcast.lease_seconds
        #: Rows this job claimed and has not yet recorded or handed back: their lease is renewed.
        self.held: set[int] = set()
        #: Broadcast id -> (urgent, expires_at) of the broadcasts this job's rows belong to.
        self.alerts: dict[int, tuple[bool, datetime | None]] = {}

    def send(self, session: Session, claimed: list[Claimed]) -> dict[str, int]:
        """Send claimed messages, grouped by provider; return counts by outcome."""
        counts: dict[str, int] = defaultdict(int)
        counts["claimed"] = len(claimed)
        self.held = {m.id for m in claimed}
        touched = {(m.broadcast_id, m.kind) for m in claimed if m.broadcast_id is not None}
        claimed = self._drop_stale_and_quiet(session, claimed, counts)
        by_channel: dict[tuple[str, int | None], list[Claimed]] = defaultdict(list)
        for message in claimed:
            by_channel[(message.provider, message.channel_id)].append(message)
        records = _channels(session, {c for _, c in by_channel if c is not None})
        groups = []
        for (provider_name, channel_id), group in by_channel.items():
            channel = records.get(channel_id) if channel_id is not None else None
            if channel is not None and channel.state != ChannelState.ACTIVE:
                # A phone marked down or disabled takes no more work: its pool's others do.
                moved = channel_health.reroute(session, self.settings, [m.id for m in group],
                                               channel, status=OutboundStatus.SENDING)
                self._hand_back(session, QUEUE_FOR_KIND[MessageKind(group[0].kind)],
                                [m.id for m in group], delay=0 if moved else 60)
                counts["rerouted" if moved else "deferred"] += len(group)
                continue
            groups.append(self._group(provider_name, group, channel))
        for status, n in self._interleave(session, groups).items():
            counts[status] += n
        # Only the last jobs of a broadcast can finish it: while others wait in its queue, the
        # query (over an index full of rows that just changed status) is not worth making.
        # Once the queue is empty, every broadcast it carried may be done, not only this one's.
        if any(not self._waiting(QUEUE_FOR_KIND[MessageKind(kind)]) for _, kind in touched):
            finish_all_done(session, self.redis)
        return dict(counts)

    def _hand_back(self, session: Session, queue_name: str, ids: list[int], *,
                   delay: float = 0, at_front: bool = False) -> None:
        self.held.difference_update(ids)
        enqueue_send(session, self.redis, queue_name, ids,
                     batch_size=self.settings.broadcast.batch_size, delay=delay,
                     at_front=at_front, claimed=True)

    def _drop_stale_and_quiet(self, session: Session, claimed: list[Claimed],
                              counts: dict[str, int]) -> list[Claimed]:
        """Expire messages of stale broadcasts; hold routine ones during quiet hours."""
        ids = {m.broadcast_id for m in claimed if m.broadcast_id is not None}
        if not ids:
            return claimed
        now = utcnow()
        info = {b.id: b for b in session.execute(
            select(Broadcast.id, Broadcast.urgent, Broadcast.expires_at, Broadcast.status)
            .where(Broadcast.id.in_(ids)))}
        self.alerts = {b.id: (bool(b.urgent), b.expires_at) for b in info.values()}
        stale_ids = {b.id for b in info.values()
                     if (b.expires_at is not None and b.expires_at <= now)
                     or b.status in (BroadcastStatus.EXPIRED, BroadcastStatus.CANCELLED)}
        stale = [m.id for m in claimed if m.broadcast_id in stale_ids]
        if stale:
            session.execute(
                update(OutboundMessage)
                .where(OutboundMessage.id.in_(stale), _status_is(OutboundStatus.SENDING))
                .values(status=OutboundStatus.EXPIRED, status_at=now, lease_until=None,
                        failure_reason="expired before sending"))
            session.commit()
            self.held.difference_update(stale)
            counts["expired"] = len(stale)
        keep = [m for m in claimed if m.broadcast_id not in stale_ids]
        routine = [m.id for m in keep
                   if m.broadcast_id is not None and not info[m.broadcast_id].urgent]
        if routine and in_quiet_hours(self.settings, now):
            # A routine broadcast waits for the morning; replies and urgent alerts go now.
            wait = (quiet_hours_end(self.settings, now) - now).total_seconds()
            self._hand_back(session, str(PRIORITY[-1]), routine, delay=wait)
            counts["deferred"] = len(routine)
            keep = [m for m in keep if m.id not in set(routine)]
        return keep

    def _adapter(self, provider_name: str, channel: Channel | None
                 ) -> tuple[Provider, str, str | None, float]:
        """A group's adapter, its rate limiter bucket (name, sender) and pace per second."""
        settings = self.settings
        if channel is None or channel.from_environment:
            sender = getattr(getattr(settings, provider_name, None), "sender", None)
            return (self.providers(provider_name), provider_name, sender,
                    float(getattr(settings.rate_limits, provider_name, 1000)))
        # A channel record: its own bucket, whatever its kind (two phones, two SIMs).
        return (adapter_for(channel), "channel", str(channel.id),
                rates_of(channel, settings).per_second)

    def _group(self, provider_name: str, messages: list[Claimed], channel: Channel | None
               ) -> _Group:
        provider, bucket, sender, rate = self._adapter(provider_name, channel)
        width = self.settings.broadcast.single_round
        if channel is not None:
            # A round of a paced channel holds at most a second's worth, so that the pool's
            # other channels get their turns between two of its rounds.
            width = max(1, min(width, int(rate)))
        rounds = _rounds(messages, provider.max_recipients, width)
        per_day = channel.rate_per_day if channel is not None else None
        return _Group(provider, bucket, sender, rate, channel,
                      QUEUE_FOR_KIND[MessageKind(messages[0].kind)], rounds, per_day=per_day)

    def _interleave(self, session: Session, groups: list[_Group]) -> dict[str, int]:
        """Send the groups' rounds, each channel at its own rate, all channels at once.

        A pool's phones are paced independently: a round goes to whichever channel's bucket
        has room, so one job keeps every phone of the pool busy instead of one after the
        other. When no channel has room within :data:`MAX_RATE_WAIT`, each hands its rest
        back to the queue for when it will.
        """
        limiter = RateLimiter(self.redis)
        counts: dict[str, int] = defaultdict(int)
        first = True
        while live := [g for g in groups if g.index < len(g.rounds)]:
            higher = PRIORITY[: PRIORITY.index(live[0].queue_name)]
            if not first and any(self._waiting(q) for q in higher):
                # Replies (or urgent alerts) are waiting: let the worker take them first.
                for g in live:
                    self._hand_back(session, g.queue_name, g.left(), at_front=True)
                    counts["yielded"] += len(g.left())
                break
            first = False
            waits: dict[int, float] = {}
            live = [g for g in live if self._within_quota(session, g, counts)]
            if not live:
                continue  # every channel left is over its daily cap: its rows went back
            for index, g in enumerate(live):
                round_ = g.rounds[g.index]
                reserved, wait = limiter.reserve(g.bucket, g.sender,
                                                 sum(m.segments for m in round_), g.rate,
                                                 SLICE if len(live) > 1 else MAX_RATE_WAIT)
                if not reserved:
                    waits[index] = wait
                    continue
                if wait:
                    time.sleep(wait)
                g.index += 1
                for status, n in self._send_round(session, g, round_).items():
                    counts[status] += n
            if len(waits) == len(live):
                # No bucket has room now: wait for the one that has it soonest. (Not a bare
                # sleep: a round costing more than a bucket's burst never fits a short wait.)
                soonest = min(waits, key=waits.__getitem__)
                g = live[soonest]
                round_ = g.rounds[g.index]
                reserved, wait = (False, waits[soonest]) if len(live) == 1 else (
                    limiter.reserve(g.bucket, g.sender, sum(m.segments for m in round_),
                                    g.rate, MAX_RATE_WAIT))
                if not reserved:
                    waits[soonest] = wait
                    for index, g in enumerate(live):
                        self._hand_back(session, g.queue_name, g.left(), delay=waits[index])
                        counts["throttled"] += len(g.left())
                    break
                time.sleep(wait)
                g.index += 1
                for status, n in self._send_round(session, g, round_).items():
                    counts[status] += n
        return counts

    def _send_round(self, session: Session, group: _Group, round_: list[Claimed]
                    ) -> dict[str, int]:
        settings = self.settings
        counts: dict[str, int] = defaultdict(int)
        retry: dict[int, list[int]] = defaultdict(list)
        outcome = _call(group.provider, round_, self.alerts)
        if group.per_day:
            DailyQuota(self.redis).spend(group.bucket, group.sender, self._today(),
                                         sum(m.segments for m in round_))
        for status in _record(session, settings, round_, outcome, retry):
            counts[status] += 1
        self.held.difference_update(m.id for m in round_)
        self._renew(session)
        delay_factor = 1.0
        if group.channel is not None and not group.channel.from_environment and retry and (
                _unreachable(outcome)):
            # The phone did not even take the connection: nothing was sent, so its pool's
            # other channels take these now (none: they wait for it as any retry does).
            ids = [i for ids in retry.values() for i in ids]
            if channel_health.reroute(session, settings, ids, group.channel):
                delay_factor = 0.0
        session.commit()
        # Each round's retries get their job at once: a row never waits without one.
        for attempts, ids in retry.items():
            delays = settings.broadcast.retry_delays
            enqueue_send(session, self.redis, group.queue_name, ids,
                         batch_size=settings.broadcast.batch_size,
                         delay=delays[min(attempts, len(delays)) - 1] * delay_factor)
        return counts

    def _today(self) -> str:
        return f"{utcnow().astimezone(ZoneInfo(self.settings.defaults.timezone)):%Y-%m-%d}"

    def _within_quota(self, session: Session, g: _Group, counts: dict[str, int]) -> bool:
        """Whether the group's channel may still send today; if not, its rows go elsewhere."""
        if not g.per_day or g.channel is None:
            return True
        round_ = g.rounds[g.index]
        room = g.per_day - DailyQuota(self.redis).used(g.bucket, g.sender, self._today())
        if sum(m.segments for m in round_) <= room:
            return True
        fits = 0
        while fits < len(round_) and sum(m.segments for m in round_[: fits + 1]) <= room:
            fits += 1
        if fits:  # what fits today goes now; the rest is the next round, which will not
            g.rounds[g.index : g.index + 1] = [round_[:fits], round_[fits:]]
            return True
        ids = g.left()
        moved = channel_health.reroute(session, self.settings, ids, g.channel,
                                       status=OutboundStatus.SENDING)
        local = utcnow().astimezone(ZoneInfo(self.settings.defaults.timezone))
        tomorrow = (local + timedelta(days=1)).replace(hour=0, minute=5, second=0)
        self._hand_back(session, g.queue_name, ids,
                        delay=0 if moved else (tomorrow - local).total_seconds())
        counts["rerouted" if moved else "over_quota"] += len(ids)
        g.index = len(g.rounds)
        return False

    def _waiting(self, queue_name: str) -> int:
        return Queue(queue_name, connection=self.redis).count

    def _renew(self, session: Session) -> None:
        """Extend the lease of the rows this job still holds (in the round's transaction)."""
        if self.held:
            session.execute(
                update(OutboundMessage)
                .where(OutboundMessage.id.in_(self.held), _status_is(OutboundStatus.SENDING))
                .values(lease_until=utcnow() + timedelta(seconds=self.lease))
                .execution_options(synchronize_session=False))


@dataclass
class _Group:
    """The messages of one job for one channel, split into provider rounds."""

    provider: Provider
    bucket: str
    sender: str | None
    rate: float
    channel: Channel | None
    queue_name: str
    rounds: list[list[Claimed]]
    index: int = 0
    #: The carrier's cap of segments a day on this channel (None: none).
    per_day: int | None = None

    def left(self) -> list[int]:
        """Ids of the rounds not sent yet."""
        return [m.id for later in self.rounds[self.index :] for m in later]


def _unreachable(outcome: list[SendResult] | SendError) -> bool:
    if isinstance(outcome, SendError):
        return outcome.code == "unreachable"
    return any(r.error is not None and r.error.code == "unreachable" for r in outcome)


def _channels(session: Session, ids: set[int]) -> dict[int, Channel]:
    if not ids:
        return {}
    return {c.id: c for c in session.scalars(select(Channel).where(Channel.id.in_(ids)))}


def _rounds(messages: list[Claimed], max_recipients: int, width: int) -> list[list[Claimed]]:
    """Split messages into provider calls: one text per request where the provider batches."""
    if max_recipients <= 1:
        # The adapter sends a round's requests in parallel (Twilio: one recipient each).
        return [messages[i : i + width] for i in range(0, len(messages), width)]
    by_text: dict[tuple[str, str | None], list[Claimed]] = defaultdict(list)
    for message in messages:
        by_text[(message.text, message.sender)].append(message)
    return [group[i : i + max_recipients] for group in by_text.values()
            for i in range(0, len(group), max_recipients)]


def _call(provider: Provider, round_: list[Claimed],
          alerts: dict[int, tuple[bool, datetime | None]]) -> list[SendResult] | SendError:
    none: tuple[bool, datetime | None] = (False, None)
    outgoing = [SmsOut(reference=m.id, to=m.to_phone, text=m.text, sender=m.sender,
                       urgent=alerts.get(m.broadcast_id or 0, none)[0],
                       valid_until=alerts.get(m.broadcast_id or 0, none)[1])
                for m in round_]
    try:
        return provider.send(outgoing)
    except SendError as error:
        return error
    except Exception as error:  # noqa: BLE001 - an adapter bug must not lose the rows
        log.exception("provider %s raised", provider.name)
        return SendError(f"unexpected error: {error}"[:200], retryable=True, code="bug")


def _record(session: Session, settings: Settings, round_: list[Claimed],
            outcome: list[SendResult] | SendError, retry: dict[int, list[int]]) -> list[str]:
    """Store a round's results with one bulk UPDATE by primary key; return the statuses."""
    if isinstance(outcome, SendError) and outcome.maybe_sent:
        # The provider may have taken the request: delivery reports settle it, not a resend.
        return reconcile.hold(session, round_, outcome)
    if isinstance(outcome, SendError):
        results = {m.id: SendResult(reference=m.id, error=outcome) for m in round_}
    else:
        results = {r.reference: r for r in outcome}
    price = Decimal(getattr(settings.prices, round_[0].provider, 0))
    now = utcnow()
    rows: list[dict[str, object]] = []
    statuses = []
    for message in round_:
        result = results.get(message.id) or SendResult(
            reference=message.id,
            error=SendError("the provider did not answer for this message", retryable=False))
        error = result.error
        if error is None:
            status = OutboundStatus(result.status)
            rows.append({"id": message.id, "status": status, "status_at": now, "sent_at": now,
                         "lease_until": None,
                         "provider_message_id": result.provider_message_id,
                         "provider_status": result.provider_status, "failure_reason": None,
                         "error_code": None,
                         "cost": result.cost if result.cost is not None
                         else price * message.segments})
        elif error.retryable and message.attempts < settings.broadcast.max_attempts:
            status = OutboundStatus.QUEUED
            retry[message.attempts].append(message.id)
            rows.append(_failure(message.id, status, error.reason, error.code, now))
        else:
            status = OutboundStatus.FAILED
            reason = OPTED_OUT_REASON if error.opted_out else error.reason
            rows.append(_failure(message.id, status, reason, error.code, now))
            if error.opted_out:
                set_opt_out(session, message.to_phone, True, channel="sms")
            log.info("message %s to %s failed: %s", message.id, message.to_phone, error)
        statuses.append("retrying" if status == OutboundStatus.QUEUED else str(status))
    _bulk_update(session, rows)
    return statuses


def _bulk_update(session: Session, rows: list[dict[str, Any]]) -> None:
    """One UPDATE per distinct outcome (usually one per round), not one per message."""
    groups: dict[tuple[tuple[str, Any], ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        shared = tuple(sorted((k, v) for k, v in row.items() if k not in PER_MESSAGE))
        groups[shared].append(row)
    for shared, members in groups.items():
        values: dict[str, Any] = dict(shared)
        for column in PER_MESSAGE - {"id"}:
            distinct = {m[column] for m in members}
            if len(distinct) == 1:
                values[column] = distinct.pop()
            else:
                values[column] = case({m["id"]: m[column] for m in members},
                                      value=OutboundMessage.id)
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id.in_([m["id"] for m in members]))
            .values(**values)
            .execution_options(synchronize_session=False))


def _failure(message_id: int, status: OutboundStatus, reason: str, code: str | None,
             now: object) -> dict[str, object]:
    return {"id": message_id, "status": status, "status_at": now, "lease_until": None,
            "failure_reason": reason[:200], "error_code": code, "provider_message_id": None,
            "provider_status": None, "sent_at": None, "cost": None}
