"""What one phone number may cost: replies per window, then one notice and silence; loops.

A person types a few SMS a minute at most; a phone (or a script) sending hundreds, or an
automatic sender answering our replies with the same text again and again, must not cost the
cooperative one reply each. Every message is still stored; only the reply is held back.
The counters live in Redis, shared by every web process, and one Lua script reads and
updates them atomically.

A command that acts (a delivery, an order, STOP) is judged before it acts. A question (STOCK,
PRIX, SOLDE, AIDE, a text not understood) changes nothing, so it is answered and committed
first, and judged after the commit by the script that also gives its reply a turn
(:meth:`ReplyLimiter.check_then_turn`): one Redis round trip per question instead of two. A
reply held back that way is deleted before any worker has seen it, unless a turn of the same
phone was already waiting and its worker took the reply in the millisecond between the commit
and the script (only during a flood: the limit may then let one more reply through).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Literal

import redis

from ..config import LimitSettings
from ..jobs import TURNS_LUA, turn_call
from ..redisconn import run_script

log = logging.getLogger(__name__)

Verdict = Literal["reply", "notice", "silent", "loop"]

KEY = "smsgateway:limits:sms:{phone}:{kind}"

# K: replies counter, silence flag, this text's counter.
# A: replies per window, window s, silence s, loop repeats, loop window s.
_VERDICT_LUA = """
local function reply_verdict(K, A)
  local repeats = redis.call('INCR', K[3])
  if repeats == 1 then redis.call('EXPIRE', K[3], tonumber(A[5])) end
  if redis.call('EXISTS', K[2]) == 1 then return 'silent' end
  if repeats > tonumber(A[4]) then return 'loop' end
  local count = redis.call('INCR', K[1])
  if count == 1 then redis.call('EXPIRE', K[1], tonumber(A[2])) end
  if count > tonumber(A[1]) then
    redis.call('SET', K[2], '1', 'EX', tonumber(A[3]))
    redis.call('DEL', K[1])
    return 'notice'
  end
  return 'reply'
end
"""
_SCRIPT = _VERDICT_LUA + "return reply_verdict(KEYS, ARGV)"

# The verdict, then, only for a reply, the reply's turn (jobs.TURNS_LUA): one round trip.
# KEYS: the verdict's three, then take_turns'. ARGV: the verdict's five, then take_turns'.
_SCRIPT_THEN_TURN = _VERDICT_LUA + TURNS_LUA + """
local verdict = reply_verdict({KEYS[1], KEYS[2], KEYS[3]},
                              {ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]})
if verdict ~= 'reply' then return verdict end
take_turns({unpack(KEYS, 4)}, {unpack(ARGV, 6)})
return verdict
"""

#: Why a message was not answered, as stored in its ``error`` column.
REASONS: dict[str, str] = {
    "notice": "not acted on nor answered: too many messages from this number (notice sent)",
    "silent": "not acted on nor answered: number silenced after too many messages",
    "loop": "not acted on nor answered: the same text again and again (automatic sender?)",
}


class ReplyLimiter:
    """Decide, per inbound SMS, whether its sender gets a reply."""

    def __init__(self, client: redis.Redis, settings: LimitSettings) -> None:
        self.client = client
        self.settings = settings

    def check(self, phone: str, text: str) -> Verdict:
        """``reply``, ``notice`` (send the one notice), ``silent`` or ``loop`` (send nothing).

        Redis down: ``reply`` (a member must not lose her answer to a counter), logged.
        """
        try:
            verdict = run_script(self.client, _SCRIPT, *self._call(phone, text))
        except redis.RedisError as error:
            log.warning("reply limits not checked (Redis: %s): answering", type(error).__name__)
            return "reply"
        return _word(verdict)

    def check_then_turn(self, phone: str, text: str) -> Verdict:
        """:meth:`check`, and for ``reply`` the turn of ``phone``'s committed reply, at once.

        For a message whose answer changes nothing: it is stored and its reply committed
        first, then one round trip judges it and gives the reply its turn. A reply held back
        here is not yet taken by any worker unless a turn of its phone already waited (a
        flood's earlier messages): the caller withdraws it. Redis down: ``reply``, and the
        sweep sends the reply once Redis is back.
        """
        keys, args = self._call(phone, text)
        turn_keys, turn_args = turn_call(self.client, [phone])
        try:
            verdict = run_script(self.client, _SCRIPT_THEN_TURN, [*keys, *turn_keys],
                                 [*args, *turn_args])
        except redis.RedisError as error:
            log.warning("reply limits not checked nor turn taken (Redis: %s): answering, "
                        "the sweep sends it", type(error).__name__)
            return "reply"
        return _word(verdict)

    def _call(self, phone: str, text: str) -> tuple[list[str], tuple[int, ...]]:
        digest = hashlib.sha256(" ".join(text.lower().split()).encode()).hexdigest()[:32]
        keys = [KEY.format(phone=phone, kind="replies"), KEY.format(phone=phone, kind="silence"),
                KEY.format(phone=phone, kind=f"text:{digest}")]
        limits = self.settings
        return keys, (limits.replies_per_window, limits.reply_window_seconds,
                      limits.silence_seconds, limits.loop_repeats, limits.loop_window_seconds)


def _word(verdict: object) -> Verdict:
    word = verdict.decode() if isinstance(verdict, bytes) else str(verdict)
    return word  # type: ignore[return-value]
