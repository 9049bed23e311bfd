"""What one phone number may cost: replies per window, then one notice and silence; loops.

A person types a few SMS a minute at most; a phone (or a script) sending hundreds, or an
automatic sender answering our replies with the same text again and again, must not cost the
cooperative one reply each. Every message is still stored; only the reply is held back.
The counters live in Redis, shared by every web process, and one Lua script reads and
updates them atomically.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Literal

import redis

from ..config import LimitSettings
from ..redisconn import run_script

log = logging.getLogger(__name__)

Verdict = Literal["reply", "notice", "silent", "loop"]

KEY = "smsgateway:limits:sms:{phone}:{kind}"

# KEYS: replies counter, silence flag, this text's counter.
# ARGV: replies per window, window s, silence s, loop repeats, loop window s.
_SCRIPT = """
local repeats = redis.call('INCR', KEYS[3])
if repeats == 1 then redis.call('EXPIRE', KEYS[3], tonumber(ARGV[5])) end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'silent' end
if repeats > tonumber(ARGV[4]) then return 'loop' end
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2])) end
if count > tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[3]))
  redis.call('DEL', KEYS[1])
  return 'notice'
end
return 'reply'
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
        digest = hashlib.sha256(" ".join(text.lower().split()).encode()).hexdigest()[:32]
        keys = [KEY.format(phone=phone, kind="replies"), KEY.format(phone=phone, kind="silence"),
                KEY.format(phone=phone, kind=f"text:{digest}")]
        limits = self.settings
        try:
            verdict = run_script(self.client, _SCRIPT, keys, (
                limits.replies_per_window, limits.reply_window_seconds, limits.silence_seconds,
                limits.loop_repeats, limits.loop_window_seconds))
        except redis.RedisError as error:
            log.warning("reply limits not checked (Redis: %s): answering", type(error).__name__)
            return "reply"
        word = verdict.decode() if isinstance(verdict, bytes) else str(verdict)
        return word  # type: ignore[return-value]
