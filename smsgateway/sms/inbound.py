"""An inbound SMS: store it, understand it, act on it, and queue or return the reply.

A command that changes something (LIVRAISON, COMMANDE, STOP, ...) acts only on a message
already written: the row is inserted first, in the same transaction as what it causes, and the
action runs in a savepoint, so an action that fails is rolled back alone and the message
stays, marked failed, with an apology to the member. A question (STOCK, SOLDE, AIDE, ...)
changes nothing: its answer is read first and the message goes in with its reply, which keeps
the write transaction short. One commit per message either way. A provider that resends a
message (same provider id) hits the unique key and nothing runs twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from redis import Redis
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handlers.base import SmsIn

from .. import outbox
from ..config import Settings
from ..db import utcnow
from ..models import (
    Channel,
    InboundMessage,
    InboundStatus,
    Member,
    MessageKind,
    OutboundMessage,
    OutboundStatus,
)
from ..phones import try_normalize
from ..services.members import members_by_phone
from . import dispatch, limits, parse
from .texts import all_languages, text

log = logging.getLogger(__name__)

#: Longest text kept per raw field; a provider never sends more, an attacker might.
MAX_RAW_FIELD = 2000


@dataclass
class Outcome:
    """What became of an inbound message."""

    inbound_id: int
    duplicate: bool = False
    command: str | None = None
    replies: list[str] = field(default_factory=list)
    #: Ids of the replies queued (committed) for a send job.
    queued: list[int] = field(default_factory=list)


def _clean(value: str, limit: int | None = None) -> str:
    # PostgreSQL refuses NUL in text; nothing legitimate carries one.
    value = (value or "").replace("\x00", "")
    return value[:limit] if limit else value


def _new_inbound(sms: SmsIn, sender: str | None, member: Member | None,
                 command: str) -> dict[str, Any]:
    # A row's values, not an ORM object: one Core INSERT writes it (see _store).
    return {
        "provider": sms.provider,
        "provider_message_id": _clean(sms.provider_message_id, 100),
        "sender": sender or _clean(sms.sender, 40),
        "recipient": _clean(sms.recipient, 40),
        "text": _clean(sms.text),
        "raw": {_clean(k, 100): _clean(str(v), MAX_RAW_FIELD) for k, v in sms.raw.items()},
        "member_id": member.id if member is not None else None,
        "command": command,
        "status": InboundStatus.RECEIVED,
        "error": None,
        "channel_id": None,
        "processed_at": None,
    }


def _store(session: Session, inbound: dict[str, Any]) -> bool:
    """Insert the message now and set its id; False when the provider already sent it."""
    try:
        result = session.execute(insert(InboundMessage.__table__), inbound)
    except IntegrityError:
        session.rollback()
        return False
    inbound["id"] = int(result.inserted_primary_key[0])
    return True


@lru_cache(maxsize=65536)
def _sender_phone(raw: str, region: str) -> str | None:
    # Members text again and again from the same few thousand numbers; parsing one costs more
    # than the rest of reading the message.
    return try_normalize(raw, region)


def _duplicate(session: Session, sms: SmsIn) -> Outcome:
    existing = session.scalar(select(InboundMessage).where(
        InboundMessage.provider == sms.provider,
        InboundMessage.provider_message_id == _clean(sms.provider_message_id, 100)))
    if existing is None:  # the row that collided was rolled back meanwhile: let them retry
        raise LookupError("duplicate inbound message vanished")
    replies = list(session.scalars(
        select(OutboundMessage.text).where(OutboundMessage.in_reply_to_id == existing.id)
        .order_by(OutboundMessage.id)))
    log.info("duplicate %s message %s ignored", sms.provider, sms.provider_message_id)
    return Outcome(existing.id, duplicate=True, command=existing.command, replies=replies)


def receive(session: Session, sms: SmsIn, settings: Settings, redis: Redis, *,
            reply_provider: str, inline: bool = False, channel: Channel = Channel.SMS,
            channel_id: int | None = None) -> Outcome:
    """Store and answer one inbound SMS; commits. ``inline``: the caller returns the reply
    in its HTTP answer (Twilio TwiML) and it is recorded as sent; otherwise it is queued.
    ``channel_id``: the channel it came in on, which carries the reply."""
    sender = _sender_phone(_clean(sms.sender), settings.defaults.region)
    command = parse.parse(_clean(sms.text))
    # Reading who sent it changes nothing, so it may come first: the row then goes in with
    # its member in one INSERT, and that INSERT is the first write of the transaction.
    memberships = members_by_phone(session, sender) if sender else []
    member = memberships[0] if memberships else None
    inbound = _new_inbound(sms, sender, member, command.name)
    inbound["channel_id"] = channel_id
    after_commit: list[Callable[[], None]] = []
    language = str(member.language) if member else settings.defaults.language
    writing = member is not None and command.name in dispatch.WRITING_COMMANDS
    # A command that acts is judged by its sender's limits before it acts. A question changes
    # nothing: it is judged after the commit, in the round trip that gives its reply a turn.
    judged_first = writing or inline
    if sender and judged_first:
        verdict = limits.ReplyLimiter(redis, settings.limits).check(sender, inbound["text"])
        if verdict != "reply":
            return _held_back(session, sms, inbound, verdict, language, settings, redis,
                              reply_provider=reply_provider, inline=inline)
    if sender is None:
        # Not a phone number (a sender id, a garbled field): stored, answered to nobody. (An
        # answer that fails says why instead; such a sender never reaches a writing command.)
        inbound["error"] = "sender is not a phone number: no reply"
    steps = _act if writing else _answer_then_store
    reply = steps(session, inbound, language, lambda: _answer(
        session, settings, redis, member, command, channel, after_commit), after_commit)
    if reply is None:
        return _duplicate(session, sms)
    outcome = Outcome(inbound["id"], command=command.name)
    if sender is None:
        session.commit()
        return outcome
    _reply(session, outcome, inbound, reply, reply_provider=reply_provider, inline=inline)
    session.commit()
    if judged_first:
        _after_commit(redis, sender if outcome.queued else None, after_commit)
        return outcome
    verdict = limits.ReplyLimiter(redis, settings.limits).check_then_turn(sender,
                                                                          inbound["text"])
    if verdict != "reply":
        return _withdrawn(session, sms, outcome, inbound, verdict, language, settings, redis,
                          reply_provider=reply_provider)
    _after_commit(redis, None, after_commit)
    return outcome


def _act(session: Session, inbound: dict[str, Any], language: str, answer: Callable[[], str],
         after_commit: list[Callable[[], None]]) -> str | None:
    """Store the message, then act on it in a savepoint; its reply, or None: a resend."""
    if not _store(session, inbound):
        return None
    try:
        with session.begin_nested():
            reply = answer()
    except Exception as error:  # noqa: BLE001  (an apology, never silence)
        reply = _failed(inbound, error, language, after_commit)
    _done(inbound)
    session.execute(
        update(InboundMessage.__table__).where(InboundMessage.id == inbound["id"]),
        {k: inbound[k] for k in ("status", "error", "processed_at")})
    return reply


def _answer_then_store(session: Session, inbound: dict[str, Any], language: str,
                       answer: Callable[[], str],
                       after_commit: list[Callable[[], None]]) -> str | None:
    """Read the answer, then store the finished message; its reply, or None: a resend."""
    try:
        reply = answer()
    except Exception as error:  # noqa: BLE001
        session.rollback()  # only reads were made; PostgreSQL needs a clean transaction
        reply = _failed(inbound, error, language, after_commit)
    _done(inbound)  # before the INSERT: one statement writes the finished row
    return reply if _store(session, inbound) else None


def _reply(session: Session, outcome: Outcome, inbound: dict[str, Any], reply: str, *,
           reply_provider: str, inline: bool) -> None:
    """Insert the reply to ``inbound`` (uncommitted): queued, or sent inline by the caller."""
    message_id = outbox.insert_one(
        session, to=inbound["sender"], text=reply, kind=MessageKind.REPLY,
        provider=reply_provider, channel_id=inbound["channel_id"],
        member_id=inbound["member_id"], in_reply_to_id=inbound["id"],
        sent_at=utcnow() if inline else None)
    outcome.replies.append(reply)
    if not inline:
        outcome.queued.append(message_id)


def _held_back(session: Session, sms: SmsIn, inbound: dict[str, Any], verdict: str,
               language: str, settings: Settings, redis: Redis, *, reply_provider: str,
               inline: bool) -> Outcome:
    """Store a message its sender's limits hold back: not acted on, at most one notice."""
    _done(inbound)
    inbound["error"] = limits.REASONS[verdict]
    if not _store(session, inbound):
        return _duplicate(session, sms)
    return _notice_or_silence(session, sms, inbound, verdict, language, settings, redis,
                              reply_provider=reply_provider, inline=inline)


def _withdrawn(session: Session, sms: SmsIn, outcome: Outcome, inbound: dict[str, Any],
               verdict: str, language: str, settings: Settings, redis: Redis, *,
               reply_provider: str) -> Outcome:
    """A question's committed reply that its sender's limits hold back: taken back (unsent)."""
    taken_back = session.execute(
        delete(OutboundMessage.__table__).where(OutboundMessage.id.in_(outcome.queued),
                                                OutboundMessage.status == OutboundStatus.QUEUED))
    if taken_back.rowcount != len(outcome.queued):
        # A turn of this phone already waited and its worker took the reply meanwhile.
        log.warning("inbound %s message %s: reply already being sent when held back",
                    sms.provider, sms.provider_message_id)
    inbound["error"] = limits.REASONS[verdict]
    session.execute(
        update(InboundMessage.__table__).where(InboundMessage.id == inbound["id"]),
        {"error": inbound["error"]})
    return _notice_or_silence(session, sms, inbound, verdict, language, settings, redis,
                              reply_provider=reply_provider, inline=False)


def _notice_or_silence(session: Session, sms: SmsIn, inbound: dict[str, Any], verdict: str,
                       language: str, settings: Settings, redis: Redis, *,
                       reply_provider: str, inline: bool) -> Outcome:
    """The one notice (``notice``) or nothing for a stored message held back; commits."""
    log.warning("inbound %s message %s not answered: %s", sms.provider,
                sms.provider_message_id, verdict)
    outcome = Outcome(inbound["id"], command=inbound["command"])
    if verdict == "notice":
        minutes = max(1, settings.limits.silence_seconds // 60)
        _reply(session, outcome, inbound, text("too_many", language, minutes=minutes),
               reply_provider=reply_provider, inline=inline)
    session.commit()
    _after_commit(redis, inbound["sender"] if outcome.queued else None, [])
    return outcome


def _done(inbound: dict[str, Any]) -> None:
    if inbound["status"] == InboundStatus.RECEIVED:
        inbound["status"] = InboundStatus.PROCESSED
    inbound["processed_at"] = utcnow()


def _failed(inbound: dict[str, Any], error: Exception, language: str,
            after_commit: list[Callable[[], None]]) -> str:
    log.exception("inbound %s message %s failed", inbound["provider"],
                  inbound["provider_message_id"])
    after_commit.clear()
    inbound["status"] = InboundStatus.FAILED
    inbound["error"] = f"{type(error).__name__}: {error}"[:300]
    return text("error", language)


def _after_commit(redis: Redis, phone: str | None, actions: list[Callable[[], None]]) -> None:
    # Everything is committed: a failure to enqueue is logged, and the reply stays queued in
    # the database, rather than a 500 that would make the provider resend a handled message.
    try:
        # A reply stored while Redis is down is sent by the worker's sweep once it is back.
        outbox.send_replies([phone] if phone else [], redis)
        for action in actions:
            action()
    except Exception:  # noqa: BLE001
        log.exception("could not enqueue after an inbound message")


def _answer(session: Session, settings: Settings, redis: Redis, member: Member | None,
            command: parse.Command, channel: Channel,
            after_commit: list[Callable[[], None]]) -> str:
    if member is None:
        if command.name == "stop":
            return text("stopped", settings.defaults.language)
        return all_languages("unknown_number", service_code=settings.ussd.service_code)
    ctx = dispatch.Context(session, member, settings, redis, channel, after_commit)
    return dispatch.handle(ctx, command)
