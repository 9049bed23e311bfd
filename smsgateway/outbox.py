"""Outbound SMS: store each message first, then hand its id to a worker."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from flask import current_app
from sqlalchemy import insert
from sqlalchemy.orm import Session

from menus.encoding import measure

from .models import MessageKind, OutboundMessage, OutboundStatus
from .providers import default_provider_name
from .queues import BULK, REPLIES, URGENT, enqueue

QUEUE_FOR_KIND = {
    MessageKind.REPLY: REPLIES,
    MessageKind.CONFIRMATION: REPLIES,
    MessageKind.ALERT: URGENT,
    MessageKind.BROADCAST: BULK,
}


def add(
    session: Session,
    *,
    to: str,
    text: str,
    kind: MessageKind,
    provider: str | None = None,
    member_id: int | None = None,
    in_reply_to_id: int | None = None,
) -> OutboundMessage:
    """Add an outbound message to the session (the caller commits, then calls :func:`send`)."""
    size = measure(text)
    message = OutboundMessage(
        to_phone=to,
        text=text,
        kind=kind,
        provider=provider or default_provider_name(),
        member_id=member_id,
        in_reply_to_id=in_reply_to_id,
        encoding=size.encoding,
        segments=size.segments,
    )
    session.add(message)
    return message


def insert_one(
    session: Session,
    *,
    to: str,
    text: str,
    kind: MessageKind,
    provider: str,
    member_id: int | None = None,
    in_reply_to_id: int | None = None,
    sent_at: datetime | None = None,
) -> int:
    """Insert one outbound message now (a Core INSERT) and return its id; ``sent_at``: sent.

    The same row as :func:`add` writes, without the ORM unit of work: the inbound SMS path
    writes one reply per message and no ORM object of it is needed afterwards.
    """
    size = measure(text)
    values: dict[str, object] = {
        "to_phone": to, "text": text, "kind": kind, "provider": provider,
        "member_id": member_id, "in_reply_to_id": in_reply_to_id,
        "encoding": size.encoding, "segments": size.segments,
    }
    if sent_at is not None:
        values.update(status=OutboundStatus.SENT, sent_at=sent_at, status_at=sent_at)
    result = session.execute(insert(OutboundMessage.__table__), values)
    return int(result.inserted_primary_key[0])


def send(messages: Sequence[OutboundMessage], queue: str | None = None) -> None:
    """Enqueue committed messages for sending, one job per batch."""
    if not messages:
        return
    send_ids([m.id for m in messages], queue or QUEUE_FOR_KIND[messages[0].kind])


def send_ids(ids: Sequence[int], queue: str) -> None:
    """Enqueue committed messages, by id, on ``queue``, one job per batch."""
    batch = current_app.config["SETTINGS"].broadcast.batch_size
    for start in range(0, len(ids), batch):
        enqueue(queue, "smsgateway.sending.send_messages", ids[start : start + batch])


def commit_and_send(session: Session, messages: Sequence[OutboundMessage]) -> None:
    """Commit the session, then enqueue the messages: a job never sees an uncommitted row."""
    session.commit()
    send(messages)
