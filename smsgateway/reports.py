"""Delivery reports: move an outbound message's status forward, never back."""

from __future__ import annotations

import logging

from redis import Redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from handlers.base import DELIVERED, STATUS_RANK, StatusUpdate, moves_forward

from . import reconcile
from .config import Settings
from .db import utcnow
from .models import OutboundMessage, OutboundStatus
from .sending import OPTED_OUT_REASON
from .services.members import set_opt_out

log = logging.getLogger(__name__)

#: Parts reported delivered, per message (a set of part names), and the parts a channel said
#: it split a message into; kept as long as a late report may come (SMSCs: within days).
PARTS_KEY = "smsgateway:delivery-parts:{message_id}"
PARTS_TOTAL_KEY = "smsgateway:delivery-total:{message_id}"
PARTS_TTL = 7 * 86400


def note_parts(redis: Redis, message_id: int, parts: int) -> None:
    """The channel split message ``message_id`` into ``parts`` (wins over its segments)."""
    redis.set(PARTS_TOTAL_KEY.format(message_id=message_id), int(parts), ex=PARTS_TTL)


def _every_part_delivered(redis: Redis, message: OutboundMessage, part: str) -> bool:
    """Count ``part`` delivered; whether every part of ``message`` now is.

    A lost count (Redis flushed) leaves the message ``sent``, never wrongly ``delivered``.
    """
    total = redis.get(PARTS_TOTAL_KEY.format(message_id=message.id))
    expected = int(total) if total else max(1, message.segments)
    if expected <= 1:
        return True
    key = PARTS_KEY.format(message_id=message.id)
    with redis.pipeline(transaction=True) as pipe:
        pipe.sadd(key, part)
        pipe.expire(key, PARTS_TTL)
        pipe.scard(key)
        delivered = int(pipe.execute()[-1])
    if delivered < expected:
        log.info("message %s: part %s of %s delivered", message.id, delivered, expected)
        return False
    return True


def _find(session: Session, report: StatusUpdate) -> OutboundMessage | None:
    return session.scalar(select(OutboundMessage).where(
        OutboundMessage.provider == report.provider,
        OutboundMessage.provider_message_id == report.provider_message_id))


def apply_status(session: Session, settings: Settings, redis: Redis, report: StatusUpdate,
                 remember_unheard: bool = True) -> OutboundMessage | None:
    """Apply a delivery report to the message it names (the caller commits).

    A report on an id the gateway never heard, naming a phone, settles that phone's message
    of unknown fate (a request that timed out after the provider took it: see
    :mod:`smsgateway.reconcile`); failing that, it is kept a while (``remember_unheard``), as
    the send job may not have given up on the request yet. Returns the message, or None for
    an id the gateway never sent (logged, not an error: providers report on messages sent
    before a database restore, or by another system). A report that would move the status
    back (a late ``Sent`` after ``Success``) changes nothing; an opt-out is recorded whatever
    the order. A report on one part (``report.part``) makes the message delivered only once
    every part is; a failed part fails it.
    """
    message = _find(session, report)
    if message is None and reconcile.claim_for_report(session, settings, report) is not None:
        message = _find(session, report)
    if message is None:
        log.warning("delivery report for unknown %s message %s (%s)", report.provider,
                    report.provider_message_id, report.provider_status)
        if remember_unheard:
            reconcile.remember(settings, redis, report)
        return None
    if report.opted_out:
        set_opt_out(session, message.to_phone, True, channel="sms")
    if report.status not in STATUS_RANK:
        log.warning("delivery report with unknown status %r for message %s",
                    report.status, message.id)
        return message
    if report.parts:
        note_parts(redis, message.id, report.parts)
    if (report.status == DELIVERED and report.part is not None
            and moves_forward(str(message.status), DELIVERED)
            and not _every_part_delivered(redis, message, report.part)):
        return message  # delivered once every part is; sent until then
    for _attempt in range(3):
        current = str(message.status)
        if not moves_forward(current, report.status):
            log.info("report %s for message %s ignored: already %s", report.provider_status,
                     message.id, current)
            return message
        values: dict[str, object] = {
            "status": OutboundStatus(report.status),
            "provider_status": report.provider_status[:40],
            "status_at": utcnow(),
        }
        if report.opted_out and report.status in (OutboundStatus.FAILED, OutboundStatus.EXPIRED):
            # Broadcast progress counts opt-outs by this reason, as for a refusal at send time.
            values["failure_reason"] = OPTED_OUT_REASON
        elif report.failure_reason:
            values["failure_reason"] = report.failure_reason[:200]
        if report.error_code:
            values["error_code"] = str(report.error_code)[:20]
        # Compare-and-set on the status: of two reports racing, the later rank wins.
        done = session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message.id, OutboundMessage.status == current)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        session.refresh(message)
        if done.rowcount == 1:
            return message
    return message
