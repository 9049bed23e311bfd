"""SMSGate (Android) channel: event parsing, signatures, sending, and the webhook, as tables."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fakes.smsgate import FakePhone, signed
from handlers import android
from handlers.base import DELIVERED, FAILED, SENT, ParseError, SmsIn, SmsOut, StatusUpdate
from smsgateway.models import InboundMessage, OutboundMessage, OutboundStatus
from smsgateway.models.channels import Channel, ChannelState
from tests.android_support import add_phone_channel, poster

KEY = "sign-key"
KHADIJA = "+212600000002"
AICHA = "+212600000004"


def _envelope(event: str, payload: dict[str, Any]) -> bytes:
    return json.dumps({"id": "env-1", "webhookId": "w", "deviceId": "dev1", "event": event,
                       "payload": payload}).encode()


RECEIVED = {"messageId": "a1b2c3d4", "message": "STOCK", "sender": KHADIJA,
            "recipient": "+212611111111", "simNumber": 1,
            "receivedAt": "2026-12-02T10:00:00.000+01:00"}


# -- parsing: one row per case --------------------------------------------------------------

PARSE_CASES = [
    ("received", "sms:received", RECEIVED, SmsIn),
    ("received, old app (phoneNumber)", "sms:received",
     {**{k: v for k, v in RECEIVED.items() if k != "sender"}, "phoneNumber": KHADIJA}, SmsIn),
    ("sent", "sms:sent", {"messageId": "sg-5", "recipient": KHADIJA, "partsCount": 1,
                          "sentAt": "2026-12-02T10:00:01+01:00"}, SENT),
    ("delivered", "sms:delivered", {"messageId": "sg-5", "recipient": KHADIJA,
                                    "deliveredAt": "2026-12-02T10:00:03+01:00"}, DELIVERED),
    ("failed", "sms:failed", {"messageId": "sg-5", "recipient": KHADIJA,
                              "failedAt": "2026-12-02T10:00:03+01:00",
                              "reason": "RESULT_ERROR_NO_SERVICE"}, FAILED),
    ("ping", "system:ping", {"health": {"battery": 80}}, android.Health),
    ("app started", "app:started", {"simCards": [{"slot": 1}]}, android.Health),
]


@pytest.mark.parametrize(("label", "event", "payload", "expected"), PARSE_CASES,
                         ids=[c[0] for c in PARSE_CASES])
def test_parse_event(label: str, event: str, payload: dict[str, Any], expected: Any) -> None:
    parsed = android.parse_event(_envelope(event, payload))
    if isinstance(expected, str):
        assert isinstance(parsed, StatusUpdate) and parsed.status == expected
        assert parsed.provider_message_id == "sg-5" and parsed.phone == KHADIJA
    else:
        assert isinstance(parsed, expected)
    if isinstance(parsed, SmsIn):
        assert parsed.sender == KHADIJA and parsed.text == "STOCK"


BAD_CASES = [
    ("not JSON", b"{nope"),
    ("no payload", json.dumps({"event": "sms:received"}).encode()),
    ("no event", json.dumps({"payload": {}}).encode()),
    ("unknown event", _envelope("mms:weird", {})),
    ("received without sender", _envelope("sms:received", {
        k: v for k, v in RECEIVED.items() if k != "sender"})),
    ("received without receivedAt", _envelope("sms:received", {
        k: v for k, v in RECEIVED.items() if k != "receivedAt"})),
    ("received without message", _envelope("sms:received", {
        k: v for k, v in RECEIVED.items() if k != "message"})),
    ("status without messageId", _envelope("sms:delivered", {"recipient": KHADIJA})),
]


@pytest.mark.parametrize(("label", "body"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_parse_refuses(label: str, body: bytes) -> None:
    with pytest.raises(ParseError):
        android.parse_event(body)


def test_received_key_tells_retries_from_new_messages() -> None:
    key = android.received_key("dev1", "a1b2", KHADIJA, "2026-12-02T10:00:00+01:00")
    assert key == android.received_key("dev1", "a1b2", KHADIJA, "2026-12-02T10:00:00+01:00")
    # Same content hash, another member; same member, later; another phone.
    assert key != android.received_key("dev1", "a1b2", AICHA, "2026-12-02T10:00:00+01:00")
    assert key != android.received_key("dev1", "a1b2", KHADIJA, "2026-12-02T10:05:00+01:00")
    assert key != android.received_key("dev2", "a1b2", KHADIJA, "2026-12-02T10:00:00+01:00")


NOW = 1_800_000_000
BODY = b'{"event":"system:ping"}'
SIGNATURE_CASES = [
    ("valid", KEY, str(NOW), android.sign(KEY, BODY, str(NOW)), None),
    ("upper-case hex is the same signature", KEY, str(NOW),
     android.sign(KEY, BODY, str(NOW)).upper(), None),
    ("forged", KEY, str(NOW), android.sign("other", BODY, str(NOW)), "bad X-Signature"),
    ("timestamp not signed with the body", KEY, str(NOW + 1),
     android.sign(KEY, BODY, str(NOW)), "bad X-Signature"),
    ("stale", KEY, str(NOW - 301), android.sign(KEY, BODY, str(NOW - 301)), "5 minutes"),
    ("from the future", KEY, str(NOW + 400), android.sign(KEY, BODY, str(NOW + 400)),
     "5 minutes"),
    ("no signature", KEY, str(NOW), None, "missing"),
    ("no timestamp", KEY, None, "abc", "missing"),
    ("timestamp not a number", KEY, "soon", "abc", "Unix seconds"),
    ("channel without a key", "", str(NOW), "abc", "no signing key"),
]


@pytest.mark.parametrize(("label", "key", "stamp", "signature", "why"), SIGNATURE_CASES,
                         ids=[c[0] for c in SIGNATURE_CASES])
def test_verify(label: str, key: str, stamp: str | None, signature: str | None,
                why: str | None) -> None:
    result = android.verify(key, BODY, stamp, signature, NOW)
    assert (result is None) if why is None else (result is not None and why in result)


# -- sending to the fake phone ---------------------------------------------------------------

def _adapter(phone: FakePhone, password: str | None = None) -> android.AndroidProvider:
    return android.AndroidProvider(phone.base_url, "sms", password or phone.password,
                                   sim_number=2, timeout=2)


def test_send_request_carries_id_sim_report_expiry_and_urgency() -> None:
    with FakePhone() as phone:
        until = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
        [result] = _adapter(phone).send([SmsOut(7, KHADIJA, "Crue: montez", valid_until=until,
                                                urgent=True)])
        body = phone.messages["sg-7"]
    assert result.error is None and result.status == SENT and result.provider_status == "Pending"
    assert body["phoneNumbers"] == [KHADIJA] and body["textMessage"] == {"text": "Crue: montez"}
    assert body["simNumber"] == 2 and body["withDeliveryReport"] is True
    assert body["validUntil"] == "2026-12-02T18:00:00Z" and body["priority"] == 100


def test_routine_message_has_no_priority_or_expiry() -> None:
    with FakePhone() as phone:
        _adapter(phone).send([SmsOut(8, KHADIJA, "Réunion jeudi")])
        assert "priority" not in phone.messages["sg-8"]
        assert "validUntil" not in phone.messages["sg-8"]


SEND_CASES = [
    # label, set-up of the phone, expected (status, error retryable or None)
    ("accepted", lambda p: None, ("ok", None)),
    ("resent id: already accepted, sent once", lambda p: p.messages.update({"sg-1": {}}),
     ("ok", None)),
    ("queue full", lambda p: setattr(p, "queue_limit", 0), ("error", True)),
    ("wrong password", lambda p: setattr(p, "password", "changed"), ("error", False)),
    ("phone switched off", lambda p: p.kill(), ("error", True)),
]


@pytest.mark.parametrize(("label", "setup", "expected"), SEND_CASES,
                         ids=[c[0] for c in SEND_CASES])
def test_send_outcomes(label: str, setup: Any, expected: tuple[str, bool | None]) -> None:
    with FakePhone() as phone:
        adapter = _adapter(phone)
        setup(phone)
        [result] = adapter.send([SmsOut(1, KHADIJA, "Salam")])
    kind, retryable = expected
    if kind == "ok":
        assert result.error is None and result.provider_message_id == "sg-1"
        assert phone.received[KHADIJA] <= 1
    else:
        assert result.error is not None and result.error.retryable is retryable


def test_bad_request_is_permanent() -> None:
    with FakePhone() as phone:
        [result] = _adapter(phone).send([SmsOut(1, KHADIJA, "")])
    assert result.error is not None and not result.error.retryable
    assert result.error.code == "400"


def test_unreachable_phone_sends_back_the_rest_without_trying() -> None:
    phone = FakePhone().start()
    adapter = _adapter(phone)
    phone.kill()
    results = adapter.send([SmsOut(i, KHADIJA, "x") for i in range(1, 4)])
    assert [r.error.code for r in results if r.error] == ["unreachable"] * 3


# -- the webhook, through the app ------------------------------------------------------------

@pytest.fixture
def phone_channel(app: Flask, session: Session, demo: Any) -> Any:
    with FakePhone() as phone:
        channel = add_phone_channel(app, session, phone, "argan-phone",
                                    cooperative_id=demo.id)
        yield phone, channel


def _inbound_count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(InboundMessage)) or 0


def test_webhook_stores_a_received_sms_once_across_retries(
        client: FlaskClient, session: Session, phone_channel: Any) -> None:
    phone, channel = phone_channel
    post = poster(client, channel.id)
    first = phone.receive_sms(KHADIJA, "STOCK", "2026-12-02T10:00:00.000+01:00")
    retry = phone.retry(first)
    assert json.loads(first.body)["id"] != json.loads(retry.body)["id"]
    answers = phone.flush(post)
    assert [a.status_code for a in answers] == [200, 200]
    assert [a.get_json()["status"] for a in answers] == ["received", "duplicate"]
    row = session.scalars(select(InboundMessage)).one()
    assert row.channel_id == channel.id and row.sender == KHADIJA


def test_same_text_from_two_members_or_twice_is_two_messages(
        client: FlaskClient, session: Session, phone_channel: Any) -> None:
    phone, channel = phone_channel
    at = "2026-12-02T10:00:00.000+01:00"
    phone.receive_sms(KHADIJA, "STOCK", at)
    phone.receive_sms(AICHA, "STOCK", at)  # the same content hash: the app's id collides
    phone.receive_sms(KHADIJA, "STOCK", "2026-12-02T10:03:00.000+01:00")
    answers = phone.flush(poster(client, channel.id))
    assert [a.get_json()["status"] for a in answers] == ["received"] * 3
    assert _inbound_count(session) == 3


def _refused(client: FlaskClient, channel: Channel, body: bytes, headers: dict[str, str]
             ) -> Any:
    return client.post(f"/webhooks/android/{channel.id}", data=body, headers=headers)


REFUSAL_CASES = [
    ("forged", lambda body: signed("not-the-key", body), 401),
    ("stale timestamp", lambda body: signed(KEY, body, int(time.time()) - 600), 401),
    ("unsigned", lambda body: {"Content-Type": "application/json"}, 401),
]


@pytest.mark.parametrize(("label", "headers", "status"), REFUSAL_CASES,
                         ids=[c[0] for c in REFUSAL_CASES])
def test_webhook_refuses_before_reading(client: FlaskClient, session: Session,
                                        phone_channel: Any, label: str, headers: Any,
                                        status: int) -> None:
    phone, channel = phone_channel
    event = phone.envelope("sms:received", {**RECEIVED, "sender": KHADIJA})
    answer = _refused(client, channel, event.body, headers(event.body))
    assert answer.status_code == status
    assert _inbound_count(session) == 0
    session.expire_all()
    assert session.get(Channel, channel.id).last_seen is None  # not even "heard"


def test_webhook_missing_fields_is_400(client: FlaskClient, session: Session,
                                       phone_channel: Any) -> None:
    phone, channel = phone_channel
    event = phone.envelope("sms:received", {"message": "STOCK"})
    answer = _refused(client, channel, event.body, event.headers)
    assert answer.status_code == 400 and _inbound_count(session) == 0


def test_webhook_unknown_channel_is_404(client: FlaskClient, phone_channel: Any) -> None:
    phone, channel = phone_channel
    event = phone.ping()
    assert _refused(client, channel, event.body, event.headers).status_code == 200
    answer = client.post(f"/webhooks/android/{channel.id + 99}", data=event.body,
                         headers=event.headers)
    assert answer.status_code == 404


def test_ping_records_health_and_brings_a_down_phone_back(
        client: FlaskClient, session: Session, phone_channel: Any) -> None:
    phone, channel = phone_channel
    session.get(Channel, channel.id).state = ChannelState.DOWN
    session.commit()
    phone.battery = 41
    phone.ping()
    [answer] = phone.flush(poster(client, channel.id))
    assert answer.get_json() == {"status": "noted", "event": "system:ping"}
    session.expire_all()
    row = session.get(Channel, channel.id)
    assert row.state == ChannelState.ACTIVE and row.last_seen is not None
    assert row.health["health"]["battery"] == 41 and row.health["event"] == "system:ping"


def test_arabic_command_from_a_phone_is_answered_on_the_same_phone(
        app: Flask, client: FlaskClient, session: Session, phone_channel: Any,
        run_jobs: Any) -> None:
    phone, channel = phone_channel
    with FakePhone(number="+212622222222") as other:
        # Another phone of the same cooperative: the reply must not go there.
        add_phone_channel(app, session, other, "argan-phone-2",
                          cooperative_id=channel.cooperative_id)
        phone.receive_sms(KHADIJA, "مخزون")
        [answer] = phone.flush(poster(client, channel.id))
        assert answer.get_json()["status"] == "received"
        run_jobs()
        assert other.sent == []
    [(to, text)] = phone.sent
    assert to == KHADIJA and "المخزون" in text
    reply = session.scalars(select(OutboundMessage)).one()
    assert reply.channel_id == channel.id and reply.provider == "android"
    assert reply.provider_message_id == f"sg-{reply.id}"
    # The phone reports sent, then delivered once per part: the status only moves forward.
    answers = phone.flush(poster(client, channel.id))
    assert all(a.status_code == 200 for a in answers) and len(answers) >= 2
    session.expire_all()
    assert session.get(OutboundMessage, reply.id).status == OutboundStatus.DELIVERED


# -- cloud and private-server mode (/3rdparty/v1) ---------------------------------------------

def _server_adapter(phone: FakePhone, password: str | None = None) -> android.AndroidProvider:
    return android.AndroidProvider(phone.base_url, phone.username, password or phone.password,
                                   mode=phone.server, timeout=2)


SERVER_SEND_CASES = [
    # label, server, password given (None: the right one), expected (ok, retryable)
    ("cloud: accepted under /3rdparty/v1", "cloud", None, (True, None)),
    ("private: accepted under /3rdparty/v1", "private", None, (True, None)),
    ("cloud: wrong basic auth is permanent", "cloud", "wrong", (False, False)),
    ("private: wrong basic auth is permanent", "private", "wrong", (False, False)),
]


@pytest.mark.parametrize(("label", "server", "password", "expected"), SERVER_SEND_CASES,
                         ids=[c[0] for c in SERVER_SEND_CASES])
def test_server_mode_sends_with_basic_auth_under_the_api_prefix(
        label: str, server: str, password: str | None, expected: tuple[bool, bool | None]
        ) -> None:
    with FakePhone(server=server) as phone:
        [result] = _server_adapter(phone, password).send([SmsOut(3, KHADIJA, "Salam")])
        requests = dict(phone.requests)
    ok, retryable = expected
    assert requests == {"POST /3rdparty/v1/messages": 1}
    if ok:
        assert result.error is None and result.status == SENT
        assert phone.messages["sg-3"]["phoneNumbers"] == [KHADIJA]
    else:
        assert result.error is not None and result.error.retryable is retryable
        assert result.error.code == "401" and not phone.messages


def test_server_mode_answers_only_under_its_prefix() -> None:
    # A base URL without /3rdparty/v1 is a configuration mistake the server answers 404.
    with FakePhone(server="private") as phone:
        adapter = android.AndroidProvider(phone.base_url.rsplit("/3rdparty", 1)[0],
                                          phone.username, phone.password, mode="private")
        [result] = adapter.send([SmsOut(1, KHADIJA, "x")])
    assert result.error is not None and result.error.code == "404"
    assert not result.error.retryable


@pytest.mark.parametrize("server", ["cloud", "private"])
def test_server_mode_registers_webhooks_under_the_prefix(server: str) -> None:
    with FakePhone(server=server) as phone:
        _server_adapter(phone).register_webhook("https://gw.example/webhooks/android/1",
                                                "sms:received", "hook-1")
        assert phone.webhooks["hook-1"]["event"] == "sms:received"
        assert phone.requests["POST /3rdparty/v1/webhooks"] == 1


HEALTH_CASES = [
    # label, server, expected: the URL asked (None: no request) and the answer's status
    ("local: the phone's /health", "local", "/health", "pass"),
    ("private: the server's /health/ready", "private", "/health/ready", "pass"),
    ("cloud: no probe, system:ping is watched", "cloud", None, None),
]


@pytest.mark.parametrize(("label", "server", "path", "status"), HEALTH_CASES,
                         ids=[c[0] for c in HEALTH_CASES])
def test_health_probe_per_mode(label: str, server: str, path: str | None,
                               status: str | None) -> None:
    with FakePhone(server=server) as phone:
        adapter = _server_adapter(phone)
        if path is None:
            assert adapter.health_url is None
            with pytest.raises(android.SendError) as refused:
                adapter.health()
            assert refused.value.code == "no-probe"
        else:
            assert adapter.health()["status"] == status
        asked = [key for key in phone.requests if key.startswith("GET")]
    assert asked == ([f"GET {path}"] if path else [])


@pytest.mark.parametrize("server", ["cloud", "private"])
def test_a_silent_server_mode_phone_is_marked_down_without_asking_the_server(
        app: Flask, session: Session, demo: Any, server: str) -> None:
    from datetime import timedelta

    from smsgateway.db import get_db
    from smsgateway.redisconn import get_redis
    from smsgateway.services import channel_health

    with FakePhone(server=server) as phone:
        channel = add_phone_channel(app, session, phone, f"{server}-phone",
                                    cooperative_id=demo.id)
        row = session.get(Channel, channel.id)
        row.last_seen = row.created_at - timedelta(days=1)
        session.commit()
        with app.app_context():
            down = channel_health.watch(app.config["SETTINGS"], get_redis(app), get_db(app))
        # The server answering proves nothing of the phone: only its pings count.
        assert channel.id in down and not phone.requests


def test_server_mode_webhooks_and_pings_work_as_in_local_mode(
        client: FlaskClient, app: Flask, session: Session, demo: Any) -> None:
    with FakePhone(server="cloud") as phone:
        channel = add_phone_channel(app, session, phone, "cloud-phone", cooperative_id=demo.id)
        phone.ping()
        phone.receive_sms(KHADIJA, "STOCK")
        answers = phone.flush(poster(client, channel.id))
    assert [a.status_code for a in answers] == [200, 200]
    session.expire_all()
    assert session.get(Channel, channel.id).last_seen is not None
    assert _inbound_count(session) == 1
