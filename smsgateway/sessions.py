"""USSD sessions in Redis: state per sessionId, replays and resume offers.

Providers send the whole session's input as one ``text`` joined with ``*`` on every hop and
may resend a hop. :func:`classify` turns the previous and the new ``text`` into what to do:
show the stored screen again (a replay: no second side effect), apply the new inputs, or
start over at home.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis

from menus.machine import State

from .redisconn import run_script

SESSION_KEY = "ussd:session:{}"
RESUME_KEY = "ussd:resume:{}"
HOP_LOCK_KEY = "ussd:hop:{}"
#: A hop holds its session's lock at most this long (a crashed worker must not block it).
HOP_LOCK_MS = 10_000
#: How long a resent hop waits for the first copy to finish before answering from the store.
HOP_WAIT_SECONDS = 3.0
#: Inputs applied from one hop at most (a dial string such as *384*123*2*1# carries several).
MAX_INPUTS_PER_HOP = 12



class Verdict(StrEnum):
    """What a hop's text asks for."""

    #: A resent or late hop: show the stored screen again, run nothing.
    REPLAY = "replay"
    #: New inputs to apply.
    INPUTS = "inputs"
    #: A text that does not follow the session's: start over at home.
    HOME = "home"


@dataclass
class Stored:
    """What a session keeps between hops."""

    phone: str
    text: str
    state: State
    screen: str
    end: bool

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (the state is already JSON-ready: no deep copy needed)."""
        return {"phone": self.phone, "text": self.text, "state": self.state,
                "screen": self.screen, "end": self.end}


def _key(template: str, value: str) -> str:
    return template.format(value)


def load(client: redis.Redis, session_id: str) -> Stored | None:
    """The stored session, or None when new, expired or unreadable."""
    return _parse(client.get(_key(SESSION_KEY, session_id)))


def drop(client: redis.Redis, session_id: str) -> None:
    """Forget a session."""
    client.delete(_key(SESSION_KEY, session_id))


def classify(previous: str | None, text: str) -> tuple[Verdict, list[str]]:
    """What a hop's cumulative ``text`` means after ``previous`` (None: a new session)."""
    if previous is None:
        return Verdict.INPUTS, text.split("*")[:MAX_INPUTS_PER_HOP] if text else []
    if text == previous:
        return Verdict.REPLAY, []
    if previous == "" and text:
        return Verdict.INPUTS, text.split("*")[:MAX_INPUTS_PER_HOP]
    if text.startswith(previous + "*"):
        return Verdict.INPUTS, text[len(previous) + 1 :].split("*")[:MAX_INPUTS_PER_HOP]
    if previous.startswith(text):
        # A late copy of an earlier hop: the member has moved on; show where she is.
        return Verdict.REPLAY, []
    return Verdict.HOME, []


# One script per end of a hop: a single command is cheaper than a pipeline of three, and
# the server runs it atomically.
# KEYS: lock, session, resume; ARGV: token, lock ms. Returns {locked, session, resume}.
_BEGIN = """
local locked = redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
return {locked and 1 or 0, redis.call('get', KEYS[2]), redis.call('get', KEYS[3])}
"""
# KEYS: lock, session, resume; ARGV: token, session JSON ('' = keep), ttl, resume action
# ('set', 'del' or ''), resume JSON, window. The lock is deleted only if still this hop's.
_END = """
if ARGV[2] ~= '' then redis.call('set', KEYS[2], ARGV[2], 'EX', ARGV[3]) end
if ARGV[4] == 'set' then redis.call('set', KEYS[3], ARGV[5], 'EX', ARGV[6])
elseif ARGV[4] == 'del' then redis.call('del', KEYS[3]) end
if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) end
return 1
"""



class Hop:
    """One hop's view of its session: the lock, the stored state, and what to write at the end.

    A hop costs two round trips to Redis: lock + load, then save + resume + unlock.
    """

    def __init__(self, acquired: bool, stored: Stored | None,
                 resume: State | None = None) -> None:
        self.acquired = acquired
        self.stored = stored
        #: The member's dropped session, read in the same round trip as the hop's own.
        self.resume = resume
        self._session = ""
        self._ttl = 0
        self._resume_action = ""
        self._resume_json = ""
        self._window = 0

    def save(self, stored: Stored, ttl: int) -> None:
        """Store the session for ``ttl`` seconds when the hop ends."""
        self._session = json.dumps(stored.as_dict(), ensure_ascii=False)
        self._ttl = ttl

    def save_resume(self, state: State, window: int) -> None:
        """Keep where the member is, so redialling within ``window`` seconds can continue."""
        if window > 0:
            self._resume_action = "set"
            self._resume_json = json.dumps(state, ensure_ascii=False)
            self._window = window

    def drop_resume(self) -> None:
        """Forget the member's dropped session when the hop ends."""
        self._resume_action = "del"


def _parse(raw: bytes | None) -> Stored | None:
    if raw is None:
        return None
    try:
        return Stored(**json.loads(raw))
    except (ValueError, TypeError):
        return None


@contextmanager
def hop(client: redis.Redis, session_id: str, phone: str = "") -> Iterator[Hop]:
    """Lock the session for one hop and load it; write and unlock when the hop ends.

    Two copies of one hop (a network retry) must not both run its action: the second waits
    for the first (``acquired`` is False if it waited too long) and then finds its text
    already handled.
    """
    keys = (_key(HOP_LOCK_KEY, session_id), _key(SESSION_KEY, session_id),
            _key(RESUME_KEY, phone))
    token = f"{time.time_ns()}-{id(object())}"
    deadline = time.monotonic() + HOP_WAIT_SECONDS
    while True:
        acquired, raw, resume = run_script(  # type: ignore[misc]
            client, _BEGIN, keys, (token, HOP_LOCK_MS))
        if acquired or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    current = Hop(bool(acquired), _parse(raw), _json_or_none(resume))
    try:
        yield current
    finally:
        if current.acquired:
            run_script(client, _END, keys, (token, current._session, current._ttl,
                                         current._resume_action, current._resume_json,
                                         current._window))


def _json_or_none(raw: bytes | None) -> State | None:
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def drop_resume(client: redis.Redis, phone: str) -> None:
    """Forget the member's dropped session (she finished or chose to start over)."""
    client.delete(_key(RESUME_KEY, phone))
