"""The PIN lockout holds when many USSD sessions guess one member's PIN at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smsgateway.models import Delivery
from tests.ussd_support import Phone

AICHA = "+212600000004"
TO_PIN = ["2", "1", "5"]  # deliver, argan oil, 5 l: the next screen asks for the PIN
SESSIONS = 20


def _at_pin_screen(app: Flask) -> Phone:
    phone = Phone(app.test_client(), AICHA)
    # A dial string: no offer to resume the sessions dialled before.
    assert "PIN" in phone.dial("*".join(TO_PIN))
    return phone


def _all_at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call in its own thread, released together."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        start.wait(timeout=60)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _deliveries(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Delivery)) or 0


def test_twenty_sessions_guessing_at_once_get_no_more_than_the_limit(
        app: Flask, demo: Any, session: Session, hash_checks: list[str]) -> None:
    limit = app.config["SETTINGS"].ussd.pin_attempts
    before = _deliveries(session)
    phones = [_at_pin_screen(app) for _ in range(SESSIONS)]
    guesses = [f"{9000 + i}" for i in range(SESSIONS)]  # none is Aicha's 1234
    answers = _all_at_once([lambda p=p, g=g: p.press(g)
                            for p, g in zip(phones, guesses, strict=True)])
    assert len(hash_checks) == limit, answers
    assert sum("PIN incorrect" in a for a in answers) == limit - 1
    assert sum("Trop de PIN faux" in a for a in answers) == SESSIONS - (limit - 1)
    # The right PIN, typed after the lock, is not even compared and records nothing.
    late = _at_pin_screen(app).press("1234")
    assert late.startswith("END Trop de PIN faux")
    assert len(hash_checks) == limit and _deliveries(session) == before


def test_the_right_pin_among_concurrent_guesses_counts_only_if_it_got_an_attempt(
        app: Flask, demo: Any, session: Session, hash_checks: list[str]) -> None:
    limit = app.config["SETTINGS"].ussd.pin_attempts
    before = _deliveries(session)
    phones = [_at_pin_screen(app) for _ in range(SESSIONS)]
    guesses = [f"{9000 + i}" for i in range(SESSIONS - 1)] + ["1234"]
    answers = _all_at_once([lambda p=p, g=g: p.press(g)
                            for p, g in zip(phones, guesses, strict=True)])
    recorded = _deliveries(session) - before
    wrong_checked = len(hash_checks) - recorded
    # A right PIN hands its attempt back, so it may open a few more; never a free-for-all.
    assert wrong_checked <= 2 * limit, answers
    assert recorded == (1 if answers[-1].startswith("END Livraison") else 0)
