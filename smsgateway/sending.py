"""The send job: claim queued messages, hand them to their provider, record what it said."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from handlers.base import SendError, SendResult, SmsOut

from .db import get_db, utcnow
from .models import OutboundMessage, OutboundStatus
from .providers import get_provider
from .services.members import set_opt_out

log = logging.getLogger(__name__)


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


def send_messages(message_ids: list[int]) -> dict[str, int]:
    """Send a batch of stored messages (an RQ job: it takes ids, never objects)."""
    db = get_db()
    with db.session() as session:
        ids = claim(session, message_ids)
    if not ids:
        return {"claimed": 0}
    counts: dict[str, int] = defaultdict(int)
    with db.session() as session:
        messages = list(session.scalars(
            select(OutboundMessage).where(OutboundMessage.id.in_(ids)).order_by(OutboundMessage.id)
        ))
        by_provider: dict[str, list[OutboundMessage]] = defaultdict(list)
        for message in messages:
            by_provider[message.provider].append(message)
        for provider_name, group in by_provider.items():
            for status in _send_group(session, provider_name, group):
                counts[status] += 1
    counts["claimed"] = len(ids)
    return dict(counts)


def _send_group(session: Session, provider_name: str,
                messages: list[OutboundMessage]) -> list[str]:
    provider = get_provider(provider_name)
    outgoing = [SmsOut(reference=m.id, to=m.to_phone, text=m.text, sender=m.sender)
                for m in messages]
    try:
        results = provider.send(outgoing)
    except SendError as error:
        if error.retryable:
            # Give the rows back so the retried job can claim them again.
            session.execute(
                update(OutboundMessage)
                .where(OutboundMessage.id.in_([m.id for m in messages]),
                       OutboundMessage.status == OutboundStatus.SENDING)
                .values(status=OutboundStatus.QUEUED, failure_reason=error.reason,
                        error_code=error.code)
            )
            session.commit()
            raise
        results = [SendResult(reference=m.id, error=error) for m in messages]
    by_ref = {r.reference: r for r in results}
    statuses = []
    for message in messages:
        result = by_ref.get(message.id) or SendResult(
            reference=message.id,
            error=SendError("the provider did not answer for this message", retryable=False),
        )
        statuses.append(record_result(session, message, result))
    return statuses


def record_result(session: Session, message: OutboundMessage, result: SendResult) -> str:
    """Store what the provider said about one message; return its new status."""
    now = utcnow()
    message.status_at = now
    if result.error is not None:
        message.status = OutboundStatus.FAILED
        message.failure_reason = result.error.reason[:200]
        message.error_code = result.error.code
        if result.error.opted_out:
            set_opt_out(session, message.to_phone, True, channel="sms")
        log.info("message %s to %s failed: %s", message.id, message.to_phone, result.error)
        return str(message.status)
    message.status = OutboundStatus(result.status)
    message.provider_message_id = result.provider_message_id
    message.provider_status = result.provider_status
    message.sent_at = now
    prices = current_app.config["SETTINGS"].prices
    message.cost = result.cost if result.cost is not None else (
        Decimal(message.segments) * Decimal(getattr(prices, message.provider, 0))
    )
    return str(message.status)
