"""Dashboard sign-in locks: by account and by address, atomic under parallel attempts."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from smsgateway.dashboard import lockout
from smsgateway.seed import DEMO_COORDINATOR, DEMO_PASSWORD

TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
ATTACKER, HER_ADDRESS, NEIGHBOUR = "203.0.113.66", "198.51.100.7", "198.51.100.8"
PARALLEL = 40


class Browser:
    """One browser at one address, with its own cookie and CSRF token."""

    def __init__(self, app: Flask, address: str) -> None:
        self.client: FlaskClient = app.test_client()
        self.address = address
        page = self.client.get("/dashboard/login").get_data(as_text=True)
        match = TOKEN_RE.search(page)
        assert match
        self.token = match.group(1)

    def sign_in(self, phone: str = DEMO_COORDINATOR, password: str = DEMO_PASSWORD) -> int:
        """Post the sign-in form; the status code."""
        response = self.client.post(
            "/dashboard/login", environ_base={"REMOTE_ADDR": self.address},
            data={"phone": phone, "password": password, "csrf_token": self.token})
        return response.status_code


def _parallel(app: Flask, address: str, attempts: list[tuple[str, str]]) -> list[int]:
    browsers = [Browser(app, address) for _ in attempts]
    return _at_once([lambda b=b, a=a: b.sign_in(*a)
                     for b, a in zip(browsers, attempts, strict=True)])


def _at_once(calls: list[Callable[[], int]]) -> list[int]:
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], int]) -> int:
        start.wait(timeout=60)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_forty_parallel_guesses_compare_no_more_passwords_than_the_limit(
        app: Flask, demo: Any, hash_checks: list[str]) -> None:
    limit = lockout.MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS
    statuses = _parallel(app, ATTACKER, [(DEMO_COORDINATOR, f"guess-{i:04}")
                                         for i in range(PARALLEL)])
    assert len(hash_checks) == limit
    assert statuses.count(401) == limit and statuses.count(429) == PARALLEL - limit
    # Locked for the attacker's address, even with the right password...
    assert Browser(app, ATTACKER).sign_in() == 429
    # ...but the coordinator signs in from her own address.
    assert Browser(app, HER_ADDRESS).sign_in() == 302


def test_an_address_guessing_many_accounts_is_locked_for_all_of_them(
        app: Flask, demo: Any) -> None:
    limit = lockout.MAX_FAILURES_PER_ADDRESS
    phones = [f"+2126110000{i:02}" for i in range(PARALLEL)]
    statuses = _parallel(app, ATTACKER, [(phone, "guess-guess") for phone in phones])
    assert statuses.count(401) == limit and statuses.count(429) == PARALLEL - limit
    assert Browser(app, ATTACKER).sign_in() == 429  # even her account, right password
    # Nobody else is shut out: neither the coordinator nor a neighbour's wrong attempt.
    assert Browser(app, HER_ADDRESS).sign_in() == 302
    assert Browser(app, NEIGHBOUR).sign_in(password="typo-typo") == 401


def test_an_account_guessed_from_many_addresses_hits_its_global_ceiling(
        app: Flask, demo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lockout, "MAX_FAILURES_PER_ACCOUNT", 8)
    for index in range(4):  # four addresses, each under its own limit of five
        browser = Browser(app, f"192.0.2.{index + 1}")
        assert [browser.sign_in(password="wrong-wrong") for _ in range(2)] == [401, 401]
    assert Browser(app, HER_ADDRESS).sign_in() == 429
    # Another account is not touched by it.
    assert Browser(app, HER_ADDRESS).sign_in(phone="+212600000002") == 401


def test_a_right_password_hands_back_its_attempt(app: Flask, demo: Any) -> None:
    browser = Browser(app, HER_ADDRESS)
    limit = lockout.MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS
    for _ in range(limit - 1):
        assert browser.sign_in(password="wrong-wrong") == 401
    assert browser.sign_in() == 302
    again = Browser(app, HER_ADDRESS)
    assert [again.sign_in(password="wrong-wrong") for _ in range(limit)] == [401] * limit
    assert again.sign_in() == 429


def test_her_sign_in_in_the_middle_of_an_attack_on_her_account_goes_through(
        app: Flask, demo: Any) -> None:
    attackers = [Browser(app, ATTACKER) for _ in range(PARALLEL)]
    her = Browser(app, HER_ADDRESS)
    statuses = _at_once([*(lambda b=b: b.sign_in(password="guess-guess") for b in attackers),
                         her.sign_in])
    assert statuses[-1] == 302
    assert statuses[:-1].count(401) == lockout.MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS
