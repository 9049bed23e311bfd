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
    return _parse(client.get(_key(SESSION_KEY, session_id)))


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


# Delete the lock only if this hop still holds it (it may have expired and been retaken).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"


class Hop:
    """One hop's view of its session: the lock, the stored state, and writes to make at the end.

    A hop costs two round trips to Redis: lock + load, then save + resume + unlock.
    """

    def __init__(self, acquired: bool, stored: Stored | None) -> None:
        self.acquired = acquired
        self.stored = stored
        self._writes: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def save(self, session_id: str, stored: Stored, ttl: int) -> None:
        """Store the session for ``ttl`` seconds when the hop ends."""
        self._writes.append(("set", (_key(SESSION_KEY, session_id),
                                     json.dumps(asdict(stored), ensure_ascii=False)),
                             {"ex": ttl}))

    def save_resume(self, phone: str, state: dict[str, Any], window: int) -> None:
        """Keep where the member is, so redialling within ``window`` seconds can continue."""
        if window > 0:
            self._writes.append(("set", (_key(RESUME_KEY, phone),
                                         json.dumps(state, ensure_ascii=False)), {"ex": window}))

    def drop_resume(self, phone: str) -> None:
        """Forget the member's dropped session when the hop ends."""
        self._writes.append(("delete", (_key(RESUME_KEY, phone),), {}))


def _parse(raw: bytes | None) -> Stored | None:
    if raw is None:
        return None
    try:
        return Stored(**json.loads(raw))
    except (ValueError, TypeError):
        return None


@contextmanager
def hop(client: redis.Redis, session_id: str) -> Iterator[Hop]:
    """Lock the session for one hop and load it; write and unlock when the hop ends.

    Two copies of one hop (a network retry) must not both run its action: the second waits
    for the first (``acquired`` is False if it waited too long) and then finds its text
    already handled.
    """
    lock = _key(HOP_LOCK_KEY, session_id)
    token = f"{time.time_ns()}-{id(object())}"
    deadline = time.monotonic() + HOP_WAIT_SECONDS
    while True:
        pipe = client.pipeline(transaction=False)
        pipe.set(lock, token, nx=True, px=HOP_LOCK_MS)
        pipe.get(_key(SESSION_KEY, session_id))
        acquired, raw = pipe.execute()
        if acquired or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    current = Hop(bool(acquired), _parse(raw))
    try:
        yield current
    finally:
        pipe = client.pipeline(transaction=False)
        if current.acquired:
            for name, args, kwargs in current._writes:
                getattr(pipe, name)(*args, **kwargs)
            pipe.eval(_RELEASE, 1, lock, token)
        if len(pipe):
            pipe.execute()


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
