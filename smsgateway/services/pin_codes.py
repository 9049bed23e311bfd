"""A coordinator gives a member a one-time code by SMS; the member chooses her PIN with it.

The code is shown to nobody but the member: it goes out in one SMS, is kept as a hash, and
no log, CSV or audit row holds it. A reset after a lockout clears the PIN and the lockout,
then sends a new code.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import outbox
from ..db import utcnow
from ..exceptions import Refused
from ..models import Member, MessageKind, OutboundMessage, PhoneCredential
from ..security import generate_code, hash_code, hash_pin, is_valid_pin, is_weak_pin
from . import pins
from .accounts import Actor, record, require_cooperative
from .outcome import render


def issue_code(session: Session, actor: Actor, member: Member, *, hours: int,
               service_code: str, reset: bool = False) -> OutboundMessage:
    """Give the member's phone a new one-time code and queue the SMS that carries it.

    ``reset``: also forget her PIN (she forgot it, or it was locked). The caller commits,
    then sends the returned message. An earlier code stops working.
    """
    require_cooperative(session, actor, member.cooperative_id)
    found = pins.credential(session, member.phone)
    if found is None:
        found = PhoneCredential(phone=member.phone)
        session.add(found)
    if found.pin_hash and not reset:
        raise Refused("phone", f"{member.phone} has a PIN already; use pins reset")
    code = generate_code()
    now = utcnow()
    found.code_hash, found.code_issued_at = hash_code(code), now
    found.code_expires_at, found.code_used_at = now + timedelta(hours=hours), None
    if reset:
        found.pin_hash = found.pin_set_at = None
    session.flush()
    record(session, actor, "pin.reset" if reset else "pin.code_issued", "member", member.id,
           member.cooperative_id, hours=hours)
    text = render("pin_code_sms", str(member.language),
                  {"code": code, "hours": hours, "service_code": service_code})
    return outbox.add(session, to=member.phone, text=text, kind=MessageKind.SECRET,
                      member_id=member.id, sender=member.cooperative.sender_name)


def clear_lockout(client: redis.Redis, member: Member) -> None:
    """Let the member try again at once (after a reset)."""
    pins.clear_lockout(client, member.phone)


def new_pin_problem(pin: str) -> str | None:
    """Why a member may not choose ``pin`` (a catalog key), or None."""
    if not is_valid_pin(pin):
        return "bad_pin_format"
    if is_weak_pin(pin):
        return "pin_too_easy"
    return None


def pending_pin_hash(pin: str) -> str:
    """The first typing of a new PIN, kept hashed in the session until she types it again."""
    return hash_pin(pin)


def pin_states(session: Session, client: redis.Redis, phones: list[str], attempts: int
               ) -> dict[str, str]:
    """Each phone's PIN state for the dashboard: ``none``, ``code`` (a code issued, unused and
    valid), ``set``, or ``locked`` (too many wrong PINs, for now)."""
    found = {c.phone: c for c in session.scalars(
        select(PhoneCredential).where(PhoneCredential.phone.in_(phones)))} if phones else {}
    used = client.mget([pins.ATTEMPTS_KEY.format(p) for p in phones]) if phones else []
    now = utcnow()
    states = {}
    for phone, tries in zip(phones, used, strict=True):
        cred = found.get(phone)
        if tries is not None and int(tries) >= attempts:
            states[phone] = "locked"
        elif cred is not None and cred.pin_hash:
            states[phone] = "set"
        elif (cred is not None and cred.code_hash and cred.code_used_at is None
              and cred.code_expires_at is not None and _aware(cred.code_expires_at) > now):
            states[phone] = "code"
        else:
            states[phone] = "none"
    return states


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)

