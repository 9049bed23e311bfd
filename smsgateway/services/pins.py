"""PINs: one per phone, checked behind an atomic per-phone lockout; chosen with a one-time code.

A woman in two cooperatives has one PIN (``phone_credentials``, keyed by her phone). A
coordinator issues a one-time code (:func:`issue_code`); it reaches her by SMS, works once,
expires, and lets her choose her PIN from the USSD menu. Codes and PINs are kept as hashes
only and never written to a log, a CSV or an audit row.

Checking a PIN and counting it are one step: an attempt is reserved in Redis (a Lua script,
so twenty sessions guessing at once cannot all slip under the limit) before the hash is
compared, and handed back when the PIN is right. When no attempt is left, the PIN is not
compared at all, so a right PIN typed after the lock does nothing.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import redis
from sqlalchemy import update
from sqlalchemy.orm import Session, object_session

from ..db import utcnow
from ..models import Member, PhoneCredential
from ..security import check_code as check_code_hash
from ..security import check_pin

log = logging.getLogger(__name__)

#: Wrong PINs (and codes) counted per phone; the key lives for the lockout after the latest.
ATTEMPTS_KEY = "pin:attempts:{}"

# KEYS: attempts; ARGV: limit, lockout seconds. Returns {reserved (1/0), left or ttl}.
# A reservation counts as a wrong PIN until it is refunded: a guess in flight uses up an
# attempt the moment it is taken, not after its hash has been compared.
_RESERVE = """
local used = tonumber(redis.call('get', KEYS[1]) or '0')
if used >= tonumber(ARGV[1]) then
  local ttl = redis.call('ttl', KEYS[1])
  if ttl < 0 then ttl = tonumber(ARGV[2]); redis.call('expire', KEYS[1], ttl) end
  return {0, ttl}
end
used = redis.call('incr', KEYS[1])
redis.call('expire', KEYS[1], ARGV[2])
return {1, tonumber(ARGV[1]) - used}
"""
# KEYS: attempts. A right PIN hands its attempt back and clears the wrong ones before it.
_REFUND = "redis.call('del', KEYS[1]) return 1"
_SHAS = {script: hashlib.sha1(script.encode()).hexdigest() for script in (_RESERVE, _REFUND)}


def _run(client: redis.Redis, script: str, key: str, *args: object) -> list[int] | int:
    try:
        return client.execute_command("EVALSHA", _SHAS[script], 1, key, *args)
    except redis.exceptions.NoScriptError:
        return client.execute_command("EVAL", script, 1, key, *args)


@dataclass(frozen=True)
class PinCheck:
    """What a PIN check found: ``error`` is None when the PIN is right.

    ``error`` is a message key: ``pin_wrong`` (``left`` attempts remain), ``pin_locked``
    (for ``minutes`` more) or ``no_pin`` (the member has none set).
    """

    error: str | None = None
    left: int = 0
    minutes: int = 0

    @property
    def ok(self) -> bool:
        """Whether the PIN was right."""
        return self.error is None


def credential(session: Session, phone: str) -> PhoneCredential | None:
    """The phone's PIN and code record, if it has one."""
    return session.get(PhoneCredential, phone)


def has_pin(session: Session, phone: str) -> bool:
    """Whether the phone has chosen a PIN."""
    found = credential(session, phone)
    return found is not None and found.pin_hash is not None


def check_member_pin(client: redis.Redis, member: Member, pin: str, *, attempts: int,
                     lockout_minutes: int) -> PinCheck:
    """Check ``pin`` for ``member``'s phone, counting it against her ``attempts`` atomically."""
    session = object_session(member)
    found = credential(session, member.phone) if session is not None else None
    if found is None or not found.pin_hash:
        return PinCheck("no_pin")
    return _guarded(client, member.phone, attempts, lockout_minutes,
                    lambda: check_pin(found.pin_hash, pin))


def _guarded(client: redis.Redis, phone: str, attempts: int, lockout_minutes: int,
             compare: Callable[[], bool]) -> PinCheck:
    key = ATTEMPTS_KEY.format(phone)
    lockout = lockout_minutes * 60
    reserved, value = _run(client, _RESERVE, key, attempts, lockout)  # type: ignore[misc]
    if not reserved:
        return PinCheck("pin_locked", minutes=max(1, math.ceil(int(value) / 60)))
    if compare():
        _run(client, _REFUND, key)
        return PinCheck()
    left = int(value)
    # The phone's last digits only: a log names no member's number in full.
    log.info("wrong PIN or code for phone ...%s (%s attempts left)", phone[-3:], left)
    if left <= 0:
        return PinCheck("pin_locked", minutes=lockout_minutes)
    return PinCheck("pin_wrong", left=left)


def check_code(client: redis.Redis, session: Session, phone: str, code: str, *, attempts: int,
               lockout_minutes: int) -> PinCheck:
    """Check a one-time code, behind the same lockout as the PIN (``no_code``: none usable)."""
    found = credential(session, phone)
    if found is None or not found.code_usable(utcnow()):
        return PinCheck("no_code")
    return _guarded(client, phone, attempts, lockout_minutes,
                    lambda: check_code_hash(found.code_hash, code))


def clear_lockout(client: redis.Redis, phone: str) -> None:
    """Forget the phone's wrong attempts (a coordinator's reset after a lockout)."""
    client.delete(ATTEMPTS_KEY.format(phone))


def set_pin_with_code(session: Session, phone: str, code_hash: str, pin_hash: str) -> bool:
    """Set the PIN if the code checked earlier is still unused and unexpired; use it up.

    One conditional UPDATE: two sessions racing with the same code cannot both use it.
    """
    now = utcnow()
    result = session.execute(
        update(PhoneCredential)
        .where(PhoneCredential.phone == phone, PhoneCredential.code_hash == code_hash,
               PhoneCredential.code_used_at.is_(None), PhoneCredential.code_expires_at > now)
        .values(pin_hash=pin_hash, pin_set_at=now, code_used_at=now, updated_at=now)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def change_pin(session: Session, phone: str, pin_hash: str) -> None:
    """Replace the phone's PIN (its owner typed the current one first)."""
    found = credential(session, phone)
    if found is None:
        found = PhoneCredential(phone=phone)
        session.add(found)
    found.pin_hash, found.pin_set_at = pin_hash, utcnow()
    session.flush()
