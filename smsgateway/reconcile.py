"""Requests whose fate is unknown: settle them by delivery reports before sending them again.

A request that timed out (or lost its connection) after its body reached the provider may
have been taken: Africa's Talking then sends every message in it and reports on each, naming
the phone but with message ids the gateway never heard. Resending the whole request would
reach those phones twice. Instead its messages are held ``unknown`` for
``broadcast.unknown_grace_seconds``: a report from that provider for one of their phones
settles the oldest such message of that phone (it takes the report's id and status), and what
is still unknown when the window closes is sent again. A report may arrive before the send job
has even given up on the request: such reports are kept in Redis for the window
(:func:`remember`) and applied when the messages are held and again when the window closes.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from datetime import timedelta
from decimal import Decimal
from typing import Any, Protocol

import redis
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from handlers.base import SendError, StatusUpdate

from .config import Settings
from .db import Database, get_db, utcnow
from .jobs import QUEUE_FOR_KIND, enqueue_send, enqueue_settle
from .models import MessageKind, OutboundMessage, OutboundStatus
from .phones import try_normalize
from .redisconn import get_redis

log = logging.getLogger(__name__)

#: Reports on ids the gateway never heard, by provider and phone, kept for the grace window.
ORPHANS_KEY = "smsgateway:orphan-reports:{provider}:{phone}"
#: Most reports kept per phone: a phone gets a handful of messages a day, not thousands.
MAX_ORPHANS = 50
UNKNOWN = OutboundStatus.UNKNOWN


class Held(Protocol):
    """What :func:`hold` needs of a claimed message."""

    id: int
    to_phone: str
    provider: str
    kind: str


def _grace(settings: Settings) -> int:
    return int(settings.broadcast.unknown_grace_seconds)


def _queue_for(kind: str) -> str:
    return QUEUE_FOR_KIND[MessageKind(kind)]


def hold(session: Session, settings: Settings, redis_client: redis.Redis,
         round_: Sequence[Held], error: SendError) -> list[str]:
    """Hold a round the provider may have taken as ``unknown``; commits; returns statuses."""
    ids = [m.id for m in round_]
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id.in_(ids), OutboundMessage.status == OutboundStatus.SENDING)
        .values(status=UNKNOWN, status_at=utcnow(), provider_message_id=None, lease_until=None,
                failure_reason=f"fate unknown: {error.reason}"[:200], error_code=error.code)
        .execution_options(synchronize_session=False))
    session.commit()
    log.warning("%d messages to %s held: the request may have been taken (%s)", len(ids),
                round_[0].provider, error)
    apply_remembered(session, settings, redis_client, round_[0].provider,
                     [m.to_phone for m in round_])
    try:
        enqueue_settle(redis_client, _queue_for(round_[0].kind), ids, _grace(settings))
    except redis.RedisError:
        # The rows are stored as unknown: the maintenance sweep settles them later.
        log.warning("settle job for %d held messages not scheduled: Redis is down", len(ids))
    return [str(UNKNOWN)] * len(ids)


def claim_for_report(session: Session, settings: Settings, report: StatusUpdate) -> int | None:
    """Give a report's id to the oldest ``unknown`` message of its phone; return that id.

    None when the report names no phone or no message of that phone is unknown (the caller
    then remembers the report for a while: it may precede the send job's own verdict).
    """
    phone = _phone(report.phone, settings)
    if phone is None:
        return None
    prices = settings.prices
    for _attempt in range(3):
        row = session.execute(
            select(OutboundMessage.id, OutboundMessage.segments).where(
                OutboundMessage.provider == report.provider,
                OutboundMessage.to_phone == phone, OutboundMessage.status == UNKNOWN)
            .order_by(OutboundMessage.id).limit(1)).first()
        if row is None:
            return None
        now = utcnow()
        # Compare-and-set: two reports for one phone settle two messages, never one twice.
        done = session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == row.id, OutboundMessage.status == UNKNOWN)
            # "sent": the provider took it; the report's own status then moves it on.
            .values(status=OutboundStatus.SENT, provider_message_id=report.provider_message_id,
                    provider_status=report.provider_status[:40], failure_reason=None,
                    error_code=None, sent_at=now, status_at=now,
                    cost=Decimal(getattr(prices, report.provider, 0)) * row.segments)
            .execution_options(synchronize_session=False))
        if done.rowcount == 1:
            log.info("message %s settled by a delivery report (%s)", row.id,
                     report.provider_status)
            return int(row.id)
    return None


def remember(settings: Settings, redis_client: redis.Redis, report: StatusUpdate) -> None:
    """Keep a report on an unheard id for the grace window (best effort: Redis may be down)."""
    phone = _phone(report.phone, settings)
    if phone is None:
        return
    key = ORPHANS_KEY.format(provider=report.provider, phone=phone)
    try:
        with redis_client.pipeline() as pipe:
            pipe.rpush(key, json.dumps(asdict(report)))
            pipe.ltrim(key, -MAX_ORPHANS, -1)
            pipe.expire(key, _grace(settings) + 60)
            pipe.execute()
    except redis.RedisError:
        log.warning("could not keep a report on unheard %s message %s", report.provider,
                    report.provider_message_id)


def apply_remembered(session: Session, settings: Settings, redis_client: redis.Redis,
                     provider: str, phones: Sequence[str]) -> int:
    """Apply the kept reports of these phones to their ``unknown`` messages; commits."""
    from .reports import apply_status

    reports: list[dict[str, Any]] = []
    try:
        with redis_client.pipeline() as pipe:
            for phone in set(phones):
                key = ORPHANS_KEY.format(provider=provider, phone=phone)
                pipe.lrange(key, 0, -1)
                pipe.delete(key)
            answers = pipe.execute()
    except redis.RedisError:
        log.warning("kept delivery reports unreadable: Redis is down")
        return 0
    for entries in answers[::2]:
        reports.extend(json.loads(entry) for entry in entries)
    applied = 0
    for fields in reports:
        if apply_status(session, settings, redis_client, StatusUpdate(**fields),
                        remember_unheard=False) is not None:
            applied += 1
    session.commit()
    return applied


def settle(message_ids: list[int]) -> dict[str, int]:
    """The grace window closed (an RQ job): apply kept reports, send the rest again."""
    # The worker runs every job inside the app's context: read what this job needs, once.
    return settle_messages(current_app.config["SETTINGS"], get_redis(), get_db(), message_ids)


def settle_messages(settings: Settings, redis_client: redis.Redis, db: Database,
                    message_ids: list[int]) -> dict[str, int]:
    """Apply the kept reports of these ``unknown`` messages, then send the rest again."""
    with db.session() as session:
        rows = session.execute(
            select(OutboundMessage.provider, OutboundMessage.to_phone)
            .where(OutboundMessage.id.in_(message_ids), OutboundMessage.status == UNKNOWN)).all()
        by_provider: dict[str, list[str]] = defaultdict(list)
        for provider, phone in rows:
            by_provider[provider].append(phone)
        for provider, phones in by_provider.items():
            apply_remembered(session, settings, redis_client, provider, phones)
        again = session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id.in_(message_ids), OutboundMessage.status == UNKNOWN,
                   OutboundMessage.attempts < settings.broadcast.max_attempts)
            .values(status=OutboundStatus.QUEUED, status_at=utcnow())
            .returning(OutboundMessage.id, OutboundMessage.kind)).all()
        failed = session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id.in_(message_ids), OutboundMessage.status == UNKNOWN)
            .values(status=OutboundStatus.FAILED, status_at=utcnow())).rowcount
        session.commit()
        by_queue: dict[str, list[int]] = defaultdict(list)
        for message_id, kind in again:
            by_queue[_queue_for(kind)].append(message_id)
        for queue_name, ids in by_queue.items():
            # Names the job on the rows, then pushes it: if Redis fails here, the sweep of
            # queued rows without a live job sends them.
            enqueue_send(session, redis_client, queue_name, ids,
                         batch_size=settings.broadcast.batch_size)
    if again or failed:
        log.warning("%d messages of unknown fate sent again, %d failed for good", len(again),
                    failed)
    return {"resent": len(again), "failed": failed, "settled": len(message_ids) - len(rows)}


def sweep(settings: Settings, redis_client: redis.Redis, db: Database) -> int:
    """Settle ``unknown`` messages whose settle job was lost (Redis down at the time)."""
    cutoff = utcnow() - timedelta(seconds=2 * _grace(settings) + 60)
    with db.session() as session:
        ids = list(session.scalars(select(OutboundMessage.id).where(
            OutboundMessage.status == UNKNOWN, OutboundMessage.status_at < cutoff)))
    return settle_messages(settings, redis_client, db, ids)["resent"] if ids else 0


def _phone(raw: str | None, settings: Settings) -> str | None:
    if not raw:
        return None
    return try_normalize(raw, settings.defaults.region) or raw
