"""End to end without hardware: the simulator plays the demo cooperative's Android phone.

A member's SMS goes in as the phone's signed ``sms:received``; the worker sends the reply
through the SMSGate send API, which the simulator answers over HTTP as the phone does; the
reply shows in the browser's inbox and ends ``delivered`` after the phone's signed
``sms:sent`` and ``sms:delivered`` webhooks.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest
from flask import Flask
from simulator_support import ROOT, chromium_page, live_gateway  # noqa: F401
from sqlalchemy import select
from sqlalchemy.orm import Session

from smsgateway.channels.secrets import get_box, new_key
from smsgateway.models import InboundMessage, OutboundMessage, OutboundStatus
from smsgateway.models.channels import Channel
from smsgateway.simulator import android

AICHA = "+212600000004"  # French-speaking demo member
#: Upper bounds for the queue, the worker and the phone's reports (not speed assertions).
ARRIVAL_MS = 30_000
REPORTS_SECONDS = 60


@pytest.fixture(autouse=True)
def _shared_channel_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """One CHANNEL_KEY for the test's app and the live gateway: both open the secrets."""
    monkeypatch.setenv("CHANNEL_KEY", new_key())


def _delivered(session: Session, channel_id: int) -> OutboundMessage:
    deadline = time.monotonic() + REPORTS_SECONDS
    while True:
        session.expire_all()
        reply = session.scalars(select(OutboundMessage)
                                .where(OutboundMessage.channel_id == channel_id)).one()
        if reply.status == OutboundStatus.DELIVERED or time.monotonic() > deadline:
            return reply
        time.sleep(0.2)


@pytest.mark.slow
def test_stock_through_the_simulated_android_phone_and_back(
    app: Flask, live_gateway: Any, chromium_page: Any, session: Session,  # noqa: F811
    demo: Any,
) -> None:
    from playwright.sync_api import expect

    gateway = live_gateway()
    channel_id = android.ensure_phone_channel(app, demo.id, gateway.url)
    page = chromium_page
    page.goto(f"{gateway.url}/simulator")
    page.click(f'.pick[data-phone="{AICHA}"]')
    page.select_option("#sms-channel", str(channel_id))
    page.fill("#sms-text", "STOCK")
    page.click("#sms-form button[type=submit]")
    expect(page.locator("#sms-measure")).to_have_text("SMS envoyé.")
    received = page.locator("#inbox li.received")
    expect(received).to_contain_text("Stock:", timeout=ARRIVAL_MS)
    expect(received).to_contain_text("android")
    # The status moves on in the inbox once the phone's reports are in.
    expect(page.locator('#inbox li.received[data-status="delivered"]')).to_have_count(
        1, timeout=REPORTS_SECONDS * 1000)

    inbound = session.scalars(select(InboundMessage)).one()
    assert (inbound.provider, inbound.sender, inbound.text) == ("android", AICHA, "STOCK")
    reply = _delivered(session, channel_id)
    assert reply.to_phone == AICHA and reply.status == OutboundStatus.DELIVERED, \
        gateway.output()
    assert reply.provider == "android" and reply.provider_message_id == f"sg-{reply.id}"
    # The phone knows the message as the app does: GET /messages/{id} with the basic auth.
    channel = session.get(Channel, channel_id)
    password = get_box(app).open(channel.secrets)["password"]
    request = urllib.request.Request(
        f"{gateway.url}/simulator/android/{channel_id}/messages/{reply.provider_message_id}",
        headers={"Authorization": "Basic " + base64.b64encode(
            f"sms:{password}".encode()).decode()})
    with urllib.request.urlopen(request, timeout=10) as answer:
        state = json.load(answer)
    assert state["state"] == "Delivered" and state["recipients"][0]["phoneNumber"] == AICHA
    assert password not in gateway.output(), "the phone's password never reaches a log"


@pytest.mark.slow
def test_the_terminal_simulator_sends_as_the_android_phone(
    app: Flask, live_gateway: Any, session: Session, demo: Any,  # noqa: F811
) -> None:
    gateway = live_gateway()
    channel_id = android.ensure_phone_channel(app, demo.id, gateway.url)
    command = [sys.executable, "-m", "smsgateway.cli", "simulate", "--phone", AICHA,
               "--url", gateway.url, "--channel"]
    result = subprocess.run([*command, str(channel_id)], input="sms STOCK\nwait 60\nquit\n",
                            env=gateway.env, cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SMS par le canal Android {channel_id}" in result.stdout
    assert "SMS envoyé." in result.stdout and "] Stock:" in result.stdout
    session.expire_all()
    inbound = session.scalars(select(InboundMessage)).one()
    assert inbound.provider == "android" and inbound.sender == AICHA
    refused = subprocess.run([*command, "999"], input="quit\n", env=gateway.env, cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "aucun canal Android 999" in refused.stderr
