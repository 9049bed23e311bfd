"""Outbound SMS: store each message first, then hand it to a worker.

Replies and confirmations wait for their phone's turn in the ``replies`` queue; other messages
carry the id of their own send job, chosen when they are added (see :mod:`smsgateway.jobs`).
Either way a row committed while Redis is down is found and sent by the sweep.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from flask import current_app
from redis import Redis
from sqlalchemy import insert
from sqlalchemy.orm import Session

from menus.encoding import measure

from .jobs import QUEUE_FOR_KIND, Batch, enqueue_reply_turns, new_job_id, push_batches
from .models import MessageKind, OutboundMessage, OutboundStatus
from .models.channels import Channel
from .queues import REPLIES
from .services import routing

__all__ = ["QUEUE_FOR_KIND", "add", "commit_and_send", "insert_one", "send", "send_replies"]


def add(
    session: Session,
    *,
    to: str,
    text: str,
    kind: MessageKind,
    channel: Channel | None = None,
    cooperative_id: int | None = None,
    reply_to_channel: int | None = None,
    provider: str | None = None,
    member_id: int | None = None,
    in_reply_to_id: int | None = None,
) -> OutboundMessage:
    """Add an outbound message to the session (the caller commits, then calls :func:`send`).

    Its channel is ``channel``, else the one routing picks (:mod:`smsgateway.services.routing`):
    the channel ``reply_to_channel`` a message came in on, ``cooperative_id``'s pool, or the
    environment's ``provider``.
    """
    if channel is None:
        channel = routing.pick(session, current_app.config["SETTINGS"],
                               cooperative_id=cooperative_id,
                               reply_to_channel=reply_to_channel, provider=provider)
    size = measure(text)
    message = OutboundMessage(
        to_phone=to,
        text=text,
        kind=kind,
        provider=channel.kind,
        channel_id=channel.id,
        member_id=member_id,
        in_reply_to_id=in_reply_to_id,
        encoding=size.encoding,
        segments=size.segments,
        # A reply waits for its phone's turn; anything else names its own job now.
        job_id=None if QUEUE_FOR_KIND[kind] == REPLIES else new_job_id(),
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
    channel_id: int | None = None,
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
        "channel_id": channel_id,
        "member_id": member_id, "in_reply_to_id": in_reply_to_id,
        "encoding": size.encoding, "segments": size.segments,
    }
    if sent_at is not None:
        values.update(status=OutboundStatus.SENT, sent_at=sent_at, status_at=sent_at)
    result = session.execute(insert(OutboundMessage.__table__), values)
    return int(result.inserted_primary_key[0])


def send(messages: Sequence[OutboundMessage], redis: Redis) -> None:
    """Enqueue committed messages: a turn for each reply's phone, a job for each other one."""
    if not messages:
        return
    send_replies([m.to_phone for m in messages if m.job_id is None], redis)
    for message in messages:
        if message.job_id is not None:
            push_batches(redis, QUEUE_FOR_KIND[message.kind],
                         [Batch(message.job_id, [message.id])])


def send_replies(phones: Iterable[str], redis: Redis) -> None:
    """Give each phone with a committed reply a turn in the replies queue (unless one waits)."""
    enqueue_reply_turns(redis, phones)


def commit_and_send(session: Session, messages: Sequence[OutboundMessage],
                    redis: Redis) -> None:
    """Commit the session, then enqueue the messages: a job never sees an uncommitted row."""
    session.commit()
    send(messages, redis)
