"""Outbound SMS: store each message first, then hand its id to a worker."""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app
from sqlalchemy.orm import Session

from menus.encoding import measure

from .models import MessageKind, OutboundMessage
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


def send(messages: Sequence[OutboundMessage], queue: str | None = None) -> None:
    """Enqueue committed messages for sending, one job per batch."""
    if not messages:
        return
    queue = queue or QUEUE_FOR_KIND[messages[0].kind]
    batch = current_app.config["SETTINGS"].broadcast.batch_size
    ids = [m.id for m in messages]
    for start in range(0, len(ids), batch):
        enqueue(queue, "smsgateway.sending.send_messages", ids[start : start + batch])


def commit_and_send(session: Session, messages: Sequence[OutboundMessage]) -> None:
    """Commit the session, then enqueue the messages: a job never sees an uncommitted row."""
    session.commit()
    send(messages)
