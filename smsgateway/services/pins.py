"""The one PIN check: a member's PIN against her hash, behind an atomic per-member lockout.

Checking a PIN and counting it are one step: an attempt is reserved in Redis (a Lua script,
so twenty sessions guessing at once cannot all slip under the limit) before the hash is
compared, and handed back when the PIN is right. When no attempt is left, the PIN is not
compared at all, so a right PIN typed after the lock does nothing.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import redis

from ..models import Member
from ..redisconn import run_script
from ..security import check_pin

log = logging.getLogger(__name__)

#: Wrong PINs counted per member; the key lives for the lockout after the latest one.
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


def check_member_pin(client: redis.Redis, member: Member, pin: str, *, attempts: int,
                     lockout_minutes: int) -> PinCheck:
    """Check ``pin`` for ``member``, counting it against her ``attempts`` atomically."""
    if not member.pin_hash:
        return PinCheck("no_pin")
    key = ATTEMPTS_KEY.format(member.id)
    lockout = lockout_minutes * 60
    reserved, value = run_script(client, _RESERVE, (key,), (attempts, lockout))  # type: ignore[misc]
    if not reserved:
        return PinCheck("pin_locked", minutes=max(1, math.ceil(int(value) / 60)))
    if check_pin(member.pin_hash, pin):
        run_script(client, _REFUND, (key,), ())
        return PinCheck()
    left = int(value)
    log.info("wrong PIN for member %s (%s attempts left)", member.id, left)
    if left <= 0:
        return PinCheck("pin_locked", minutes=lockout_minutes)
    return PinCheck("pin_wrong", left=left)
