"""The send job: claim queued messages, hand them to their provider, record what it said.

A job claims its rows (``queued -> sending``) and commits before any request, then sends them
one provider *round* at a time (one request for a batching provider such as Africa's Talking;
``single_round`` one-recipient requests, sent in parallel by the Twilio adapter) and
commits each round's results before the next. A worker killed with SIGKILL therefore leaves
at most one round handed to the provider but unrecorded: the only messages :func:`reap` may
send twice.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy.orm import Session

from handlers.base import Provider, SendError, SendResult, SmsOut

from . import reconcile
from .db import get_db, utcnow
from .models import (
    Broadcast,
    BroadcastStatus,
    MessageKind,
    OutboundMessage,
    OutboundStatus,
)
from .outbox import QUEUE_FOR_KIND
from .providers import get_provider
from .queues import PRIORITY, get_queue
from .ratelimit import RateLimiter
from .redisconn import get_redis
from .services.members import set_opt_out

log = logging.getLogger(__name__)

SEND_FUNC = "smsgateway.sending.send_messages"
#: The reason stored on a message whose recipient had told the provider STOP.
OPTED_OUT_REASON = "opted out"
#: Longest a job sleeps for the rate limiter; beyond it the job hands its rows back.
MAX_RATE_WAIT = 2.0
#: Result fields that differ from message to message within one provider round.
PER_MESSAGE = frozenset({"id", "provider_message_id", "cost"})


def _status_is(status: OutboundStatus) -> ColumnElement[bool]:
    # Written so that no index on status can serve it: PostgreSQL without fresh statistics
    # would otherwise scan every queued row of the (broadcast, status) index for each batch
    # instead of fetching the batch's rows by primary key.
    return func.lower(OutboundMessage.status) == status.value


def release(session: Session, message_ids: Sequence[int]) -> None:
    """Give claimed messages back (``sending -> queued``) for another job to take."""
    if message_ids:
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id.in_(message_ids), _status_is(OutboundStatus.SENDING))
            .values(status=OutboundStatus.QUEUED, attempts=OutboundMessage.attempts - 1)
        )
        session.commit()


def enqueue_ids(queue_name: str, ids: Sequence[int], delay: float = 0,
                at_front: bool = False) -> None:
    """Enqueue send jobs for ``ids`` in batches, now or after ``delay`` seconds."""
    batch = current_app.config["SETTINGS"].broadcast.batch_size
    queue = get_queue(queue_name)
    for start in range(0, len(ids), batch):
        chunk = list(ids[start : start + batch])
        if delay > 0:
            queue.enqueue_in(timedelta(seconds=delay), SEND_FUNC, chunk, job_timeout=180)
        else:
            queue.enqueue(SEND_FUNC, chunk, job_timeout=180, at_front=at_front)


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


def claim_rows(session: Session, message_ids: Sequence[int]) -> list[Claimed]:
    """Claim queued messages (``queued -> sending``); return the rows won, ready to send."""
    rows = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id.in_(message_ids), _status_is(OutboundStatus.QUEUED))
        .values(status=OutboundStatus.SENDING, attempts=OutboundMessage.attempts + 1,
                status_at=utcnow())
        .returning(OutboundMessage.id, OutboundMessage.to_phone, OutboundMessage.text,
                   OutboundMessage.sender, OutboundMessage.segments, OutboundMessage.kind,
                   OutboundMessage.attempts, OutboundMessage.provider,
                   OutboundMessage.broadcast_id)
    ).all()
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


def send_messages(message_ids: list[int]) -> dict[str, int]:
    """Send a batch of stored messages (an RQ job: it takes ids, never objects)."""
    db = get_db()
    counts: dict[str, int] = defaultdict(int)
    with db.session() as session:
        claimed = claim_rows(session, message_ids)
        session.commit()
        counts["claimed"] = len(claimed)
        touched = {(m.broadcast_id, m.kind) for m in claimed if m.broadcast_id is not None}
        claimed = _drop_stale_and_quiet(session, claimed, counts)
        by_provider: dict[str, list[Claimed]] = defaultdict(list)
        for message in claimed:
            by_provider[message.provider].append(message)
        for provider_name, group in by_provider.items():
            for status, n in _send_group(session, provider_name, group).items():
                counts[status] += n
    # Only the last jobs of a broadcast can finish it: while others wait in its queue, the
    # query (over an index full of rows that just changed status) is not worth making.
    last = [b for b, kind in touched if not get_queue(QUEUE_FOR_KIND[MessageKind(kind)]).count]
    if last:
        from .broadcasts.fanout import finish_if_done

        with db.session() as session:
            for broadcast_id in set(last):
                finish_if_done(session, broadcast_id)
    return dict(counts)


def _drop_stale_and_quiet(session: Session, claimed: list[Claimed],
                          counts: dict[str, int]) -> list[Claimed]:
    """Expire messages of stale broadcasts; hold routine ones during quiet hours."""
    from .broadcasts.schedule import in_quiet_hours, quiet_hours_end

    ids = {m.broadcast_id for m in claimed if m.broadcast_id is not None}
    if not ids:
        return claimed
    settings = current_app.config["SETTINGS"]
    now = utcnow()
    info = {b.id: b for b in session.execute(
        select(Broadcast.id, Broadcast.urgent, Broadcast.expires_at, Broadcast.status)
        .where(Broadcast.id.in_(ids)))}
    stale_ids = {b.id for b in info.values() if (b.expires_at is not None and b.expires_at <= now)
                 or b.status in (BroadcastStatus.EXPIRED, BroadcastStatus.CANCELLED)}
    stale = [m.id for m in claimed if m.broadcast_id in stale_ids]
    if stale:
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id.in_(stale), _status_is(OutboundStatus.SENDING))
            .values(status=OutboundStatus.EXPIRED, status_at=now,
                    failure_reason="expired before sending"))
        session.commit()
        counts["expired"] = len(stale)
    keep = [m for m in claimed if m.broadcast_id not in stale_ids]
    routine = [m.id for m in keep if m.broadcast_id is not None and not info[m.broadcast_id].urgent]
    if routine and in_quiet_hours(settings, now):
        # A routine broadcast waits for the morning; replies and urgent alerts go now.
        release(session, routine)
        wait = (quiet_hours_end(settings, now) - now).total_seconds()
        enqueue_ids(str(PRIORITY[-1]), routine, delay=wait)
        counts["deferred"] = len(routine)
        keep = [m for m in keep if m.id not in set(routine)]
    return keep


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


def _send_group(session: Session, provider_name: str, messages: list[Claimed]
                ) -> dict[str, int]:
    settings = current_app.config["SETTINGS"]
    provider = get_provider(provider_name)
    rounds = _rounds(messages, provider.max_recipients, settings.broadcast.single_round)
    limiter = RateLimiter(get_redis())
    rate = float(getattr(settings.rate_limits, provider_name, 1000))
    sender = getattr(getattr(settings, provider_name, None), "sender", None)
    queue_name = QUEUE_FOR_KIND[MessageKind(messages[0].kind)]
    higher = PRIORITY[: PRIORITY.index(queue_name)]
    counts: dict[str, int] = defaultdict(int)
    retry: dict[int, list[int]] = defaultdict(list)
    for index, round_ in enumerate(rounds):
        left = [m.id for later in rounds[index:] for m in later]
        if index and any(get_queue(q).count for q in higher):
            # Replies (or urgent alerts) are waiting: let the worker take them first.
            release(session, left)
            enqueue_ids(queue_name, left, at_front=True)
            counts["yielded"] += len(left)
            break
        segments = sum(m.segments for m in round_)
        reserved, wait = limiter.reserve(provider_name, sender, segments, rate, MAX_RATE_WAIT)
        if not reserved:
            release(session, left)
            enqueue_ids(queue_name, left, delay=wait)
            counts["throttled"] += len(left)
            break
        if wait:
            time.sleep(wait)
        for status in _record(session, round_, _call(provider, round_), retry):
            counts[status] += 1
        session.commit()
    for attempts, ids in retry.items():
        delays = settings.broadcast.retry_delays
        enqueue_ids(queue_name, ids, delay=delays[min(attempts, len(delays)) - 1])
    return counts


def _call(provider: Provider, round_: list[Claimed]) -> list[SendResult] | SendError:
    outgoing = [SmsOut(reference=m.id, to=m.to_phone, text=m.text, sender=m.sender)
                for m in round_]
    try:
        return provider.send(outgoing)
    except SendError as error:
        return error
    except Exception as error:  # noqa: BLE001 - an adapter bug must not lose the rows
        log.exception("provider %s raised", provider.name)
        return SendError(f"unexpected error: {error}"[:200], retryable=True, code="bug")


def _record(session: Session, round_: list[Claimed], outcome: list[SendResult] | SendError,
            retry: dict[int, list[int]]) -> list[str]:
    """Store a round's results with one bulk UPDATE by primary key; return the statuses."""
    if isinstance(outcome, SendError) and outcome.maybe_sent:
        # The provider may have taken the request: delivery reports settle it, not a resend.
        return reconcile.hold(session, round_, outcome)
    if isinstance(outcome, SendError):
        results = {m.id: SendResult(reference=m.id, error=outcome) for m in round_}
    else:
        results = {r.reference: r for r in outcome}
    settings = current_app.config["SETTINGS"]
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
    return {"id": message_id, "status": status, "status_at": now,
            "failure_reason": reason[:200], "error_code": code, "provider_message_id": None,
            "provider_status": None, "sent_at": None, "cost": None}


def record_result(session: Session, message: OutboundMessage, result: SendResult) -> str:
    """Store what the provider said about one message; return its new status."""
    now = utcnow()
    message.status_at = now
    if result.error is not None:
        message.status = OutboundStatus.FAILED
        message.failure_reason = (
            OPTED_OUT_REASON if result.error.opted_out else result.error.reason[:200])
        message.error_code = result.error.code
        if result.error.opted_out:
            set_opt_out(session, message.to_phone, True, channel="sms")
        log.info("message %s to %s failed: %s", message.id, message.to_phone, result.error)
        return str(message.status)
    message.status = OutboundStatus(result.status)
    message.provider_message_id = result.provider_message_id
    message.provider_status = result.provider_status
    message.failure_reason = None
    message.error_code = None
    message.sent_at = now
    prices = current_app.config["SETTINGS"].prices
    message.cost = result.cost if result.cost is not None else (
        Decimal(message.segments) * Decimal(getattr(prices, message.provider, 0))
    )
    return str(message.status)


def reap(older_than: float | None = None) -> int:
    """Requeue messages left ``sending`` by a dead worker; return how many.

    A live job commits each round within seconds, so a row ``sending`` for longer than
    ``broadcast.stuck_after_seconds`` belongs to a job that will never finish it.
    """
    settings = current_app.config["SETTINGS"]
    seconds = settings.broadcast.stuck_after_seconds if older_than is None else older_than
    cutoff = utcnow() - timedelta(seconds=seconds)
    with get_db().session() as session:
        rows = session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.status == OutboundStatus.SENDING,
                   OutboundMessage.status_at < cutoff)
            .values(status=OutboundStatus.QUEUED, status_at=utcnow())
            .returning(OutboundMessage.id, OutboundMessage.kind)
        ).all()
    by_queue: dict[str, list[int]] = defaultdict(list)
    for message_id, kind in rows:
        by_queue[QUEUE_FOR_KIND[kind]].append(message_id)
    for queue_name, ids in by_queue.items():
        enqueue_ids(queue_name, sorted(ids))
    if rows:
        log.warning("requeued %d messages left sending by a dead worker", len(rows))
    return len(rows)

