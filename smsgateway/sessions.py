"""USSD sessions in Redis: state per sessionId, replays, resume offers and PIN lockouts.

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
from dataclasses import asdict, dataclass
from typing import Any, Literal

import redis

SESSION_KEY = "ussd:session:{}"
RESUME_KEY = "ussd:resume:{}"
HOP_LOCK_KEY = "ussd:hop:{}"
PIN_FAILS_KEY = "ussd:pin-fails:{}"
PIN_LOCK_KEY = "ussd:pin-lock:{}"
#: A hop holds its session's lock at most this long (a crashed worker must not block it).
HOP_LOCK_MS = 10_000
#: How long a resent hop waits for the first copy to finish before answering from the store.
HOP_WAIT_SECONDS = 3.0
#: Inputs applied from one hop at most (a dial string such as *384*123*2*1# carries several).
MAX_INPUTS_PER_HOP = 12

Verdict = Literal["replay", "inputs", "home"]


@dataclass
class Stored:
    """What a session keeps between hops."""

    phone: str
    text: str
    state: dict[str, Any]
    screen: str
    end: bool


def _key(template: str, value: str) -> str:
    return template.format(value)


def load(client: redis.Redis, session_id: str) -> Stored | None:
    """The stored session, or None when new, expired or unreadable."""
    raw = client.get(_key(SESSION_KEY, session_id))
    if raw is None:
        return None
    try:
        return Stored(**json.loads(raw))
    except (ValueError, TypeError):
        return None


def save(client: redis.Redis, session_id: str, stored: Stored, ttl: int) -> None:
    """Store the session for ``ttl`` seconds."""
    client.set(_key(SESSION_KEY, session_id), json.dumps(asdict(stored), ensure_ascii=False),
               ex=ttl)


def drop(client: redis.Redis, session_id: str) -> None:
    """Forget a session."""
    client.delete(_key(SESSION_KEY, session_id))


def classify(previous: str | None, text: str) -> tuple[Verdict, list[str]]:
    """What a hop's cumulative ``text`` means after ``previous`` (None: a new session)."""
    if previous is None:
        return "inputs", text.split("*")[:MAX_INPUTS_PER_HOP] if text else []
    if text == previous:
        return "replay", []
    if previous == "" and text:
        return "inputs", text.split("*")[:MAX_INPUTS_PER_HOP]
    if text.startswith(previous + "*"):
        return "inputs", text[len(previous) + 1 :].split("*")[:MAX_INPUTS_PER_HOP]
    if previous.startswith(text):
        # A late copy of an earlier hop: the member has moved on; show where she is.
        return "replay", []
    return "home", []


@contextmanager
def hop_lock(client: redis.Redis, session_id: str) -> Iterator[bool]:
    """Hold the session's lock for one hop; yields False if a resent copy kept it too long.

    Two copies of one hop (a network retry) must not both run its action: the second waits
    for the first and then finds its text already handled.
    """
    key = _key(HOP_LOCK_KEY, session_id)
    token = f"{time.monotonic_ns()}"
    deadline = time.monotonic() + HOP_WAIT_SECONDS
    acquired = bool(client.set(key, token, nx=True, px=HOP_LOCK_MS))
    while not acquired and time.monotonic() < deadline:
        time.sleep(0.02)
        acquired = bool(client.set(key, token, nx=True, px=HOP_LOCK_MS))
    try:
        yield acquired
    finally:
        if acquired and client.get(key) == token.encode():
            client.delete(key)


def save_resume(client: redis.Redis, phone: str, state: dict[str, Any], window: int) -> None:
    """Keep where the member is, so redialling within ``window`` seconds can continue."""
    if window > 0:
        client.set(_key(RESUME_KEY, phone), json.dumps(state, ensure_ascii=False), ex=window)


def load_resume(client: redis.Redis, phone: str) -> dict[str, Any] | None:
    """The state of the member's dropped session, if recent."""
    raw = client.get(_key(RESUME_KEY, phone))
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def drop_resume(client: redis.Redis, phone: str) -> None:
    """Forget the member's dropped session (she finished or chose to start over)."""
    client.delete(_key(RESUME_KEY, phone))


class PinGuard:
    """Counts wrong PINs per member; ``attempts`` wrong ones lock sensitive actions."""

    def __init__(self, client: redis.Redis, attempts: int, lockout_minutes: int) -> None:
        self.client = client
        self.attempts = attempts
        self.lockout_seconds = lockout_minutes * 60

    def locked_for(self, member_id: int) -> int:
        """Seconds left on the member's lockout (0: not locked)."""
        ttl = self.client.ttl(_key(PIN_LOCK_KEY, str(member_id)))
        return max(int(ttl), 0)

    def failed(self, member_id: int) -> int:
        """Count a wrong PIN; return the attempts left (0: now locked)."""
        key = _key(PIN_FAILS_KEY, str(member_id))
        pipe = self.client.pipeline()
        pipe.incr(key)
        pipe.expire(key, self.lockout_seconds)
        fails = int(pipe.execute()[0])
        left = self.attempts - fails
        if left <= 0:
            pipe = self.client.pipeline()
            pipe.set(_key(PIN_LOCK_KEY, str(member_id)), "1", ex=self.lockout_seconds)
            pipe.delete(key)
            pipe.execute()
            return 0
        return left

    def succeeded(self, member_id: int) -> None:
        """A right PIN clears the count of wrong ones."""
        self.client.delete(_key(PIN_FAILS_KEY, str(member_id)))
