"""End to end: the simulator in Debian's Chromium and in a terminal, against a real gateway.

gunicorn serves the app and an RQ worker sends through the console provider, both on the test
database and Redis; the phone's inbox fills only once the worker has sent a message.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
import urllib.error
import urllib.request
from decimal import Decimal
from typing import Any

import pytest
from simulator_support import ROOT, chromium_page, free_port, live_gateway  # noqa: F401
from sqlalchemy import select as sql_select
from sqlalchemy.orm import Session

from smsgateway.models import Channel, Delivery, DeliveryStatus, InboundMessage, Member

KHADIJA = "+212600000002"  # Arabic-speaking demo member, PIN 1234
AICHA = "+212600000004"    # French-speaking demo member, PIN 1234
PIN = "1234"
#: Upper bound for a message to go through the queue and the worker (not a speed assertion).
ARRIVAL_MS = 30_000
SCREENSHOT = ROOT / "docs" / "simulator.png"


def _press(page: Any, keys: str) -> None:
    """Type on the phone's keypad, then press the green key."""
    for key in keys:
        page.click(f'.key[data-key="{key}"]')
    page.click("#call")


def _option(screen: str, label: str) -> str:
    """The number in front of ``label`` on a menu screen."""
    match = re.search(rf"(\d+)\s*[.)-]?\s*{re.escape(label)}", screen)
    assert match, f"no option {label!r} on the screen:\n{screen}"
    return match.group(1)


def _delivery(session: Session, phone: str) -> Delivery:
    session.expire_all()
    member = session.scalar(sql_select(Member).where(Member.phone == phone))
    return session.scalars(sql_select(Delivery).where(
        Delivery.member_id == member.id, Delivery.status == DeliveryStatus.PENDING)).one()


@pytest.mark.slow
def test_khadija_records_a_delivery_and_gets_the_sms_in_the_browser(
    live_gateway: Any, chromium_page: Any, session: Session  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    gateway = live_gateway()
    page = chromium_page
    page.goto(f"{gateway.url}/simulator")
    page.click(f'.pick[data-phone="{KHADIJA}"]')
    expect(page.locator("#who")).to_have_text(KHADIJA)

    page.click("#call")  # the entry holds the service code: dial it
    screen = page.locator("#screen")
    expect(page.locator("#state")).to_have_text("session ouverte")
    expect(screen).to_contain_text("مرحبا")
    expect(page.locator("#measure")).to_contain_text("UCS-2")
    length = int(page.locator("#measure").get_attribute("data-length"))
    assert 0 < length <= 80, "an Arabic screen holds at most 80 characters"
    if os.environ.get("UPDATE_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))

    _press(page, _option(screen.inner_text(), "تسجيل توريد"))
    expect(screen).to_contain_text("أملو")
    _press(page, _option(screen.inner_text(), "أملو"))
    expect(screen).to_contain_text("كمية")
    _press(page, "5")
    expect(screen).to_contain_text("الرمز السري")
    _press(page, PIN)
    expect(page.locator("#state")).to_have_text("session terminée")
    expect(screen).to_contain_text("تم تسجيل التوريد")

    delivery = _delivery(session, KHADIJA)
    assert delivery.quantity == Decimal("5") and delivery.channel == Channel.USSD
    assert delivery.product.code == "AMLOU"
    # The confirmation SMS goes through the queue and the worker, then shows in the inbox.
    expect(page.locator("#inbox li.received")).to_contain_text(
        f"تم تسجيل التوريد #{delivery.id}", timeout=ARRIVAL_MS)
    assert f"*{PIN}" not in gateway.output(), "the PIN never reaches a log"


@pytest.mark.slow
def test_an_sms_from_the_browser_gets_its_reply_in_the_inbox(
    live_gateway: Any, chromium_page: Any, session: Session  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    gateway = live_gateway(AFRICASTALKING_WEBHOOK_SECRET="hook-secret")
    page = chromium_page
    page.goto(f"{gateway.url}/simulator")
    page.click(f'.pick[data-phone="{AICHA}"]')
    page.fill("#sms-text", "stock")
    page.click("#sms-form button[type=submit]")
    expect(page.locator("#sms-measure")).to_have_text("SMS envoyé.")
    expect(page.locator("#inbox li.sent")).to_contain_text("stock")
    expect(page.locator("#inbox li.received")).to_contain_text("Stock:", timeout=ARRIVAL_MS)
    session.expire_all()
    inbound = session.scalars(sql_select(InboundMessage)).one()
    assert inbound.sender == AICHA and inbound.provider == "africastalking"
    # The relay added the secret; the webhook itself still refuses a caller without it.
    request = urllib.request.Request(f"{gateway.url}/webhooks/africastalking/sms",
                                     data=b"from=%2B212600000004&text=STOCK&id=x1", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403


class Pty:
    """A program on a pseudo-terminal: type lines, read until a pattern shows."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(command, env=env, cwd=ROOT, stdin=slave, stdout=slave,
                                        stderr=slave, start_new_session=True)
        os.close(slave)
        self.seen = ""

    def expect(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Read until ``pattern`` matches what came after the last match."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.seen)
            if match:
                self.seen = self.seen[match.end():]
                return match
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.master], [], [], max(0.0, left))
            if not ready:
                raise AssertionError(f"{pattern!r} never showed; the terminal says:\n{self.seen}")
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # the program exited and closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"exited before {pattern!r}:\n{self.seen}")
            self.seen += chunk.decode(errors="replace").replace("\r\n", "\n")

    def type(self, line: str) -> None:
        """Type a line and press Enter."""
        os.write(self.master, line.encode() + b"\n")

    def close(self) -> int:
        """Wait for the program to end; return its status."""
        try:
            return self.process.wait(timeout=30)
        finally:
            os.close(self.master)


@pytest.mark.slow
def test_terminal_simulator_records_a_delivery_over_a_pty(
    live_gateway: Any, session: Session  # noqa: F811
) -> None:
    gateway = live_gateway()
    term = Pty([sys.executable, "-m", "smsgateway.cli", "simulate", "--phone", "0600000004",
                "--url", gateway.url], gateway.env)
    try:
        term.expect(r"Téléphone \+212600000004")
        term.expect(r"\n> ")
        term.type("dial")
        home = term.expect(r"┌─ CON · GSM-7 · \d+/182[^\n]*\n((?:│[^\n]*\n)+)└─").group(1)
        term.type(_option(home, "Livrer un produit"))
        products = term.expect(r"┌─ CON[^\n]*\n((?:│[^\n]*\n)+)└─").group(1)
        term.type(_option(products, "Amlou"))
        term.expect(r"Quantité d.amlou")
        term.type("3")
        term.expect(r"PIN")
        term.type(PIN)
        term.expect(r"┌─ END[^\n]*\n│ Livraison \d+ enregistrée")
        term.expect(r"\n> ")
        term.type("wait 60")
        term.expect(r"\[SMS reçu #\d+ · \d\d:\d\d:\d\d · confirmation · GSM-7 · 1 SMS\] "
                    r"Livraison #\d+ enregistrée")
        term.type("sms PRIX")
        term.expect(r"SMS envoyé\.")
        term.type("quit")
        assert term.close() == 0
    finally:
        if term.process.poll() is None:
            term.process.kill()
    delivery = _delivery(session, AICHA)
    assert delivery.quantity == Decimal("3") and delivery.channel == Channel.USSD
    assert delivery.product.code == "AMLOU"


def test_simulate_says_clearly_when_no_gateway_answers(runner: Any) -> None:
    result = runner.invoke(args=["simulate", "--phone", AICHA, "--url",
                                 f"http://127.0.0.1:{free_port()}"], input="quit\n")
    assert result.exit_code == 1
    assert "cannot reach" in result.output and "make run" in result.output


def test_simulate_refuses_a_bad_number(runner: Any) -> None:
    result = runner.invoke(args=["simulate", "--phone", "hello"], input="quit\n")
    assert result.exit_code == 2 and "not a phone number" in result.output




@pytest.mark.slow
@pytest.mark.parametrize(
    ("server_env", "client_env", "status", "said"),
    [({"SIMULATOR_PASSWORD": "pw-sim"}, {}, 1, "mot de passe du simulateur requis"),
     ({"SIMULATOR_PASSWORD": "pw-sim"}, {"SIMULATOR_PASSWORD": "pw-sim"}, 0, "Téléphone"),
     ({"SMSGATEWAY__SIMULATOR__ENABLED": "false"}, {}, 1, "simulateur est désactivé")],
    ids=["password-missing", "password-given", "simulator-disabled"],
)
def test_terminal_simulator_respects_the_server_settings(
    live_gateway: Any, server_env: dict[str, str], client_env: dict[str, str],  # noqa: F811
    status: int, said: str,
) -> None:
    gateway = live_gateway(**server_env)
    env = {k: v for k, v in gateway.env.items() if k not in server_env}
    env.update(client_env)
    result = subprocess.run(
        [sys.executable, "-m", "smsgateway.cli", "simulate", "--phone", AICHA, "--url",
         gateway.url], input="quit\n", env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=60)
    assert result.returncode == status, result.stdout + result.stderr
    assert said in result.stdout + result.stderr
