"""The send job: claim queued messages, hand them to their provider, record what it said.

A job claims its rows (``queued -> sending``) and commits before any request, then sends them
one provider *round* at a time (one request for a batching provider such as Africa's Talking;
``send_concurrency`` one-recipient requests, sent in parallel by the Twilio adapter) and
commits each round's results before the next. A worker killed with SIGKILL therefore leaves
at most one round handed to the provider but unrecorded: the only messages :func:`reap` may
send twice.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from handlers.base import Provider, SendError, SendResult, SmsOut, StatusUpdate, moves_forward

from .db import get_db, utcnow
from .models import Broadcast, BroadcastStatus, OutboundMessage, OutboundStatus
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


def claim(session: Session, message_ids: Sequence[int]) -> list[int]:
    """Move queued messages to ``sending`` and return the ids this job won."""
    claimed = session.scalars(
        update(OutboundMessage)
        .where(OutboundMessage.id.in_(message_ids),
               OutboundMessage.status == OutboundStatus.QUEUED)
        .values(status=OutboundStatus.SENDING, attempts=OutboundMessage.attempts + 1,
                status_at=utcnow())
        .returning(OutboundMessage.id)
    ).all()
    return list(claimed)


def release(session: Session, message_ids: Sequence[int]) -> None:
    """Give claimed messages back (``sending -> queued``) for another job to take."""
    if message_ids:
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id.in_(message_ids),
                   OutboundMessage.status == OutboundStatus.SENDING)
            .values(status=OutboundStatus.QUEUED, attempts=OutboundMessage.attempts - 1)
        )
        session.commit()


def queue_for(message: OutboundMessage) -> str:
    """The queue a message's jobs go to (replies first, urgent alerts next, routine last)."""
    from .outbox import QUEUE_FOR_KIND

    return QUEUE_FOR_KIND[message.kind]


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


def send_messages(message_ids: list[int]) -> dict[str, int]:
    """Send a batch of stored messages (an RQ job: it takes ids, never objects)."""
    from .broadcasts.schedule import in_quiet_hours, quiet_hours_end

    settings = current_app.config["SETTINGS"]
    db = get_db()
    now = utcnow()
    with db.session() as session:
        rows = session.execute(
            select(OutboundMessage.id, OutboundMessage.kind, Broadcast.urgent,
                   Broadcast.expires_at, Broadcast.status)
            .outerjoin(Broadcast, Broadcast.id == OutboundMessage.broadcast_id)
            .where(OutboundMessage.id.in_(message_ids),
                   OutboundMessage.status == OutboundStatus.QUEUED)
        ).all()
        stale = [r.id for r in rows if r.urgent is not None and (
            (r.expires_at is not None and r.expires_at <= now)
            or r.status in (BroadcastStatus.EXPIRED, BroadcastStatus.CANCELLED))]
        if stale:
            session.execute(
                update(OutboundMessage)
                .where(OutboundMessage.id.in_(stale),
                       OutboundMessage.status == OutboundStatus.QUEUED)
                .values(status=OutboundStatus.EXPIRED, status_at=now,
                        failure_reason="expired before sending"))
        todo = [r for r in rows if r.id not in set(stale)]
        routine = [r.id for r in todo if r.urgent is False]
        if routine and in_quiet_hours(settings, now):
            # A routine broadcast waits for the morning; replies and urgent alerts go now.
            wait = (quiet_hours_end(settings, now) - now).total_seconds()
            enqueue_ids(str(PRIORITY[-1]), routine, delay=wait)
            todo = [r for r in todo if r.id not in set(routine)]
        ids = claim(session, [r.id for r in todo])
    counts: dict[str, int] = defaultdict(int)
    counts["expired"] = len(stale)
    counts["claimed"] = len(ids)
    touched: set[int] = set()
    if ids:
        with db.session() as session:
            messages = list(session.scalars(
                select(OutboundMessage).where(OutboundMessage.id.in_(ids))
                .order_by(OutboundMessage.id)))
            touched = {m.broadcast_id for m in messages if m.broadcast_id is not None}
            by_provider: dict[str, list[OutboundMessage]] = defaultdict(list)
            for message in messages:
                by_provider[message.provider].append(message)
            for provider_name, group in by_provider.items():
                for status, n in _send_group(session, provider_name, group).items():
                    counts[status] += n
    if stale:
        with db.session() as session:
            touched |= set(session.scalars(select(OutboundMessage.broadcast_id).where(
                OutboundMessage.id.in_(stale))).all()) - {None}
    if touched:
        from .broadcasts.fanout import finish_if_done

        with db.session() as session:
            for broadcast_id in touched:
                finish_if_done(session, broadcast_id)
    return dict(counts)


def _rounds(messages: list[OutboundMessage], max_recipients: int, width: int
            ) -> list[list[OutboundMessage]]:
    """Split messages into provider calls: one text per request where the provider batches."""
    if max_recipients <= 1:
        # The adapter sends a round's requests in parallel (Twilio: one recipient each).
        return [messages[i : i + width] for i in range(0, len(messages), width)]
    by_text: dict[tuple[str, str | None], list[OutboundMessage]] = defaultdict(list)
    for message in messages:
        by_text[(message.text, message.sender)].append(message)
    return [group[i : i + max_recipients] for group in by_text.values()
            for i in range(0, len(group), max_recipients)]


def _send_group(session: Session, provider_name: str,
                messages: list[OutboundMessage]) -> dict[str, int]:
    settings = current_app.config["SETTINGS"]
    provider = get_provider(provider_name)
    rounds = _rounds(messages, provider.max_recipients, settings.broadcast.send_concurrency)
    limiter = RateLimiter(get_redis())
    rate = float(getattr(settings.rate_limits, provider_name, 1000))
    sender = getattr(getattr(settings, provider_name, None), "sender", None)
    queue_name = queue_for(messages[0])
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
        for _message, status in _record(session, round_, _call(provider, round_), retry):
            counts[status] += 1
        session.commit()
    for attempts, ids in retry.items():
        delays = settings.broadcast.retry_delays
        enqueue_ids(queue_name, ids, delay=delays[min(attempts, len(delays)) - 1])
    return counts


def _call(provider: Provider, round_: list[OutboundMessage]) -> list[SendResult] | SendError:
    outgoing = [SmsOut(reference=m.id, to=m.to_phone, text=m.text, sender=m.sender)
                for m in round_]
    try:
        return provider.send(outgoing)
    except SendError as error:
        return error
    except Exception as error:  # noqa: BLE001 - an adapter bug must not lose the rows
        log.exception("provider %s raised", provider.name)
        return SendError(f"unexpected error: {error}"[:200], retryable=True, code="bug")


def _record(session: Session, request: list[OutboundMessage],
            outcome: list[SendResult] | SendError, retry: dict[int, list[int]]
            ) -> list[tuple[OutboundMessage, str]]:
    if isinstance(outcome, SendError):
        results = {m.id: SendResult(reference=m.id, error=outcome) for m in request}
    else:
        results = {r.reference: r for r in outcome}
    max_attempts = current_app.config["SETTINGS"].broadcast.max_attempts
    out = []
    for message in request:
        result = results.get(message.id) or SendResult(
            reference=message.id,
            error=SendError("the provider did not answer for this message", retryable=False))
        error = result.error
        if error is not None and error.retryable and message.attempts < max_attempts:
            message.status = OutboundStatus.QUEUED
            message.failure_reason = error.reason[:200]
            message.error_code = error.code
            message.status_at = utcnow()
            retry[message.attempts].append(message.id)
            out.append((message, "retrying"))
            continue
        out.append((message, record_result(session, message, result)))
    return out


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


def apply_status(session: Session, update_: StatusUpdate) -> OutboundMessage | None:
    """Apply a delivery report to its message; statuses only move forward. Caller commits."""
    message = session.scalar(select(OutboundMessage).where(
        OutboundMessage.provider == update_.provider,
        OutboundMessage.provider_message_id == update_.provider_message_id))
    if message is None:
        return None
    if moves_forward(str(message.status), update_.status):
        message.status = OutboundStatus(update_.status)
        message.provider_status = update_.provider_status
        message.status_at = utcnow()
        if update_.status in (OutboundStatus.FAILED, OutboundStatus.EXPIRED):
            message.failure_reason = (OPTED_OUT_REASON if update_.opted_out
                                      else (update_.failure_reason or update_.provider_status))
            message.error_code = update_.error_code
    if update_.opted_out:
        set_opt_out(session, message.to_phone, True, channel="sms")
    return message


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
    from .outbox import QUEUE_FOR_KIND

    by_queue: dict[str, list[int]] = defaultdict(list)
    for message_id, kind in rows:
        by_queue[QUEUE_FOR_KIND[kind]].append(message_id)
    for queue_name, ids in by_queue.items():
        enqueue_ids(queue_name, sorted(ids))
    if rows:
        log.warning("requeued %d messages left sending by a dead worker", len(rows))
    return len(rows)

