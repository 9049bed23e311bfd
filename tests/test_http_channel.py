"""The HTTP channel: each preset against a fake of its aggregator's wire format, as tables."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from fakes.aggregators import FakeAggregator, FakeInfobip, FakeJasmin, FakeKannel, Sent
from handlers.base import SendError, SmsOut
from handlers.http_channel import HttpChannelProvider, HttpConfig, verify
from smsgateway.db import get_db
from smsgateway.models import InboundMessage
from tests.smpp_support import add_channel, queue_messages, rows

AICHA, KHADIJA = "+212600000004", "+212600000002"
SECRET = "s3cret"


@dataclass(frozen=True)
class Preset:
    """How one aggregator is set up, reports a delivery and forwards an inbound SMS."""

    fake: type[FakeAggregator]
    secrets: Callable[[FakeAggregator], dict[str, str]]
    # (client, sent message) -> the response to the aggregator's delivery report
    report: Callable[[FlaskClient, Sent], Any]
    # (client, sender, text) -> the response to the aggregator's inbound forwarding
    inbound: Callable[[FlaskClient, str, str], Any]
    answer: str | None  # the body its inbound forwarding needs back (None: ours, JSON)
    #: How the aggregator writes the number it sent to.
    to: Callable[[str], str]
    report_answer: str | None  # the body its delivery report needs back


def _kannel_report(client: FlaskClient, sent: Sent) -> Any:
    # Kannel calls the dlr-url it was given, %d filled with the report type (1: delivered).
    url = urlsplit(sent.fields["dlr-url"].replace("%d", "1"))
    return client.get(f"{url.path}?{url.query}")


PRESETS = {
    "infobip": Preset(
        FakeInfobip, lambda f: {"api_key": f.api_key, "webhook_secret": SECRET},
        lambda c, s: c.post(f"/webhooks/http/infobip/report?secret={SECRET}", json={
            "results": [{"messageId": s.message_id, "to": s.to,
                         "status": {"groupName": "DELIVERED", "name": "DELIVERED_TO_HANDSET"},
                         "error": {"name": "NO_ERROR"}}]}),
        lambda c, frm, text: c.post(f"/webhooks/http/infobip/inbound?secret={SECRET}", json={
            "results": [{"messageId": f"ib-{frm}-{len(text)}", "from": frm.lstrip("+"),
                         "to": "3838", "text": text, "receivedAt": "2026-12-02T04:00:00Z"}],
            "messageCount": 1, "pendingMessageCount": 0}),
        None, lambda n: n.lstrip("+"), None),
    "jasmin": Preset(
        FakeJasmin, lambda f: {"username": f.username, "password": f.password,
                               "webhook_secret": SECRET},
        lambda c, s: c.post(f"/webhooks/http/jasmin/report?secret={SECRET}", data={
            "id": s.message_id, "message_status": "DELIVRD", "level": "3",
            "id_smsc": "77", "sub": "001", "dlvrd": "001", "err": "000"}),
        lambda c, frm, text: c.post(f"/webhooks/http/jasmin/inbound?secret={SECRET}", data={
            "id": f"jm-{frm}-{len(text)}", "from": frm.lstrip("+"), "to": "3838",
            "origin-connector": "smpp-iam", "priority": "0", "coding": "8",
            "validity": "none", "content": "", "binary": text.encode("utf-16-be").hex()}),
        "ACK/Jasmin", lambda n: n.lstrip("+"), "ACK/Jasmin"),
    "kannel": Preset(
        FakeKannel, lambda f: {"username": f.username, "password": f.password,
                               "webhook_secret": SECRET},
        _kannel_report,
        lambda c, frm, text: c.get("/webhooks/http/kannel/inbound", query_string={
            "secret": SECRET, "id": f"kn-{frm}-{len(text)}", "from": frm, "to": "3838",
            "text": text, "time": "1764648000"}),
        "", lambda n: n, None),
}


@pytest.fixture(params=list(PRESETS), ids=list(PRESETS))
def channel(request: pytest.FixtureRequest, app: Flask) -> Iterator[tuple[str, Preset, Any]]:
    name = request.param
    preset = PRESETS[name]
    fake = preset.fake()
    add_channel(app, "http", name,
                {"preset": name, "vars": {"base_url": fake.base_url}, "sender": "COOP"},
                preset.secrets(fake))
    yield name, preset, fake
    fake.stop()


def test_send_then_the_delivery_report(app: Flask, client: FlaskClient, run_jobs: Any,
                                       channel: tuple[str, Preset, Any]) -> None:
    name, preset, fake = channel
    ids = queue_messages(app, [(AICHA, "Crue demain: rentrez les bêtes"),
                               (KHADIJA, "فيضان غدا")], channel=name)
    run_jobs()
    assert {(s.to, s.text) for s in fake.sent} == {
        (preset.to(AICHA), "Crue demain: rentrez les bêtes"), (preset.to(KHADIJA), "فيضان غدا")}
    sent = {r.to_phone: r for r in rows(app, ids)}
    assert {str(r.status) for r in sent.values()} == {"sent"}
    first = next(s for s in fake.sent if s.to == preset.to(AICHA))
    answer = preset.report(client, first)
    assert answer.status_code == 200
    if preset.report_answer is not None:
        assert answer.get_data(as_text=True) == preset.report_answer
    assert str(rows(app, [sent[AICHA].id])[0].status) == "delivered"


def test_inbound_is_stored_and_answered_on_the_same_channel(
        app: Flask, client: FlaskClient, demo: Any, run_jobs: Any,
        channel: tuple[str, Preset, Any]) -> None:
    name, preset, fake = channel
    answer = preset.inbound(client, AICHA, "STOCK")
    assert answer.status_code == 200, answer.data
    if preset.answer is not None:
        assert answer.get_data(as_text=True) == preset.answer
    with get_db(app).session() as session:
        [stored] = session.scalars(select(InboundMessage)).all()
        assert (stored.provider, stored.sender, stored.text) == ("http", AICHA, "STOCK")
    run_jobs()
    [reply] = fake.sent
    assert reply.to == preset.to(AICHA) and "Amlou" in reply.text
    # The aggregator resends (no answer heard): stored once.
    assert preset.inbound(client, AICHA, "STOCK").status_code == 200
    with get_db(app).session() as session:
        assert len(session.scalars(select(InboundMessage)).all()) == 1


def test_arabic_inbound_is_read(app: Flask, client: FlaskClient, demo: Any,
                                channel: tuple[str, Preset, Any]) -> None:
    _, preset, _ = channel
    assert preset.inbound(client, KHADIJA, "المخزون").status_code == 200
    with get_db(app).session() as session:
        [stored] = session.scalars(select(InboundMessage)).all()
        assert stored.text == "المخزون"


def test_a_callback_without_the_secret_is_refused(client: FlaskClient,
                                                  channel: tuple[str, Preset, Any]) -> None:
    name, _, _ = channel
    for kind in ("inbound", "report"):
        assert client.post(f"/webhooks/http/{name}/{kind}?secret=wrong",
                           data={"id": "1"}).status_code == 403
        assert client.post(f"/webhooks/http/{name}/{kind}", data={"id": "1"}).status_code == 403


def test_a_malformed_callback_is_a_400(client: FlaskClient,
                                       channel: tuple[str, Preset, Any]) -> None:
    name, _, _ = channel
    answer = client.post(f"/webhooks/http/{name}/report?secret={SECRET}",
                         data={"nothing": "here"})
    assert answer.status_code == 400


def test_an_unknown_channel_is_a_404(client: FlaskClient) -> None:
    assert client.post("/webhooks/http/nobody/inbound").status_code == 404


# ---- the adapter alone --------------------------------------------------------------------

def _config(**send: Any) -> HttpConfig:
    return HttpConfig.from_settings("custom", {
        "send": {"url": "http://127.0.0.1:9/x", "body": "{}", **send},
        "verify": {"type": "hmac", "header": "X-Signature"}}, {"webhook_secret": SECRET})


def test_a_template_cannot_leave_the_sandbox() -> None:
    provider = HttpChannelProvider(_config(body='{"x": "{{ text.__class__.__mro__ }}"}'))
    with pytest.raises(SendError) as raised:
        provider.send([SmsOut(reference=1, to=AICHA, text="hi")])
    assert not raised.value.retryable


def test_a_template_that_does_not_compile_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="template"):
        _config(body="{{ text")


SIGNATURES = {
    "right hmac": (lambda body: hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
                   True),
    "prefixed hmac": (lambda body: "sha256=" + hmac.new(SECRET.encode(), body,
                                                        hashlib.sha256).hexdigest(), True),
    "wrong key": (lambda body: hmac.new(b"other", body, hashlib.sha256).hexdigest(), False),
    "missing": (lambda body: "", False),
}


@pytest.mark.parametrize("sign,genuine", SIGNATURES.values(), ids=SIGNATURES.keys())
def test_hmac_verification(sign: Callable[[bytes], str], genuine: bool) -> None:
    body = json.dumps({"from": "212600000004", "text": "STOCK"}).encode()
    assert verify(_config(), {"X-Signature": sign(body)}, {}, body) is genuine


def test_a_destination_infobip_rejects_fails_and_the_others_go(
        app: Flask, run_jobs: Any) -> None:
    fake = FakeInfobip()
    fake.reject.add(KHADIJA.lstrip("+"))
    add_channel(app, "http", "infobip",
                {"preset": "infobip", "vars": {"base_url": fake.base_url}, "sender": "COOP"},
                {"api_key": fake.api_key, "webhook_secret": SECRET})
    try:
        ids = queue_messages(app, [(AICHA, "crue"), (KHADIJA, "crue")], channel="infobip")
        run_jobs()
    finally:
        fake.stop()
    sent, failed = rows(app, ids)
    assert (str(sent.status), str(failed.status)) == ("sent", "failed")
    assert failed.error_code == "REJECTED"


def test_a_wrong_api_key_fails_without_retrying(app: Flask, run_jobs: Any) -> None:
    fake = FakeInfobip()
    add_channel(app, "http", "infobip",
                {"preset": "infobip", "vars": {"base_url": fake.base_url}, "sender": "COOP"},
                {"api_key": "wrong", "webhook_secret": SECRET})
    try:
        ids = queue_messages(app, [(AICHA, "un")], channel="infobip")
        run_jobs()
    finally:
        fake.stop()
    [row] = rows(app, ids)
    assert str(row.status) == "failed" and row.error_code == "401"
    assert fake.requests == 1
