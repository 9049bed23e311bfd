"""The simulated Android phone's send API (``/simulator/android/<id>``), through the Flask client.

It answers as an SMSGate phone in local mode does (202, 409, 400, 401), and reports on a
message it took with the app's signed ``sms:sent`` and ``sms:delivered`` webhooks.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from smsgateway import outbox
from smsgateway.channels.secrets import get_box
from smsgateway.db import get_db
from smsgateway.models import MessageKind, OutboundMessage, OutboundStatus
from smsgateway.models.channels import Channel
from smsgateway.simulator import android

KHADIJA = "+212600000002"
#: An upper bound for the phone's reports to arrive (not a speed assertion).
REPORTS_SECONDS = 30


@pytest.fixture(autouse=True)
def _simulator_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSGATEWAY__SIMULATOR__ENABLED", "true")


@pytest.fixture
def phone(app: Flask, demo: Any) -> Channel:
    """The demo cooperative's simulated phone, as ``smsgateway dev`` makes it."""
    channel_id = android.ensure_phone_channel(app, demo.id, "http://127.0.0.1:8000")
    with app.app_context(), get_db(app).session() as session:
        channel = session.get(Channel, channel_id)
        session.expunge(channel)
    return channel


def _auth(app: Flask, channel: Channel, password: str | None = None) -> dict[str, str]:
    with app.app_context():
        password = password or get_box(app).open(channel.secrets)["password"]
    token = base64.b64encode(f"sms:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _body(message_id: str = "sg-1", text: str = "Stock: Amlou 12 kg") -> dict[str, Any]:
    return {"id": message_id, "textMessage": {"text": text}, "phoneNumbers": [KHADIJA],
            "withDeliveryReport": True}


def _taken(app: Flask, session: Session, channel: Channel, text: str) -> OutboundMessage:
    """A message the worker handed to the phone (as it records it before the reports)."""
    with app.test_request_context():
        message = outbox.add(session, to=KHADIJA, text=text, kind=MessageKind.REPLY,
                             channel=session.get(Channel, channel.id))
        session.flush()
        message.status, message.provider_message_id = OutboundStatus.SENT, f"sg-{message.id}"
        session.commit()
    return message


def _settled(session: Session, message: OutboundMessage) -> OutboundStatus:
    """The message's status once the phone's last report is in (bounded wait)."""
    deadline = time.monotonic() + REPORTS_SECONDS
    while time.monotonic() < deadline:
        session.expire_all()
        if session.get(OutboundMessage, message.id).status == OutboundStatus.DELIVERED:
            break
        time.sleep(0.1)
    return session.get(OutboundMessage, message.id).status


@pytest.mark.parametrize("path", ["messages", "message"])
def test_a_taken_message_is_202_then_reported_sent_and_delivered_per_part(
        app: Flask, client: FlaskClient, session: Session, phone: Channel, path: str) -> None:
    text = "Stock " + "amlou, huile d'argan, " * 10  # 230 characters: two GSM-7 parts
    message = _taken(app, session, phone, text)
    answer = client.post(f"/simulator/android/{phone.id}/{path}",
                         json=_body(message.provider_message_id, text),
                         headers=_auth(app, phone))
    answer.close()  # the phone reports once its answer is on the way
    assert answer.status_code == 202
    body = answer.get_json()
    assert (body["id"], body["state"], body["deviceId"]) == (
        message.provider_message_id, "Pending", f"simulator-{phone.id}")
    assert body["recipients"] == [{"phoneNumber": KHADIJA, "state": "Pending", "error": None}]
    assert _settled(session, message) == OutboundStatus.DELIVERED
    state = client.get(f"/simulator/android/{phone.id}/messages/{message.provider_message_id}",
                       headers=_auth(app, phone)).get_json()
    assert state["state"] == "Delivered" and set(state["states"]) >= {"Pending", "Sent"}


def test_a_reused_id_is_409_and_taken_once(
        app: Flask, client: FlaskClient, session: Session, phone: Channel) -> None:
    message = _taken(app, session, phone, "Stock: Amlou 12 kg")
    url = f"/simulator/android/{phone.id}/messages"
    first = client.post(url, json=_body(message.provider_message_id), headers=_auth(app, phone))
    first.close()
    again = client.post(url, json=_body(message.provider_message_id), headers=_auth(app, phone))
    assert (first.status_code, again.status_code) == (202, 409)
    assert message.provider_message_id in again.get_json()["message"]
    assert _settled(session, message) == OutboundStatus.DELIVERED


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401), ("wrong-password", 401),
    ({"Authorization": "Bearer sometoken"}, 401)], ids=["none", "wrong", "not-basic"])
def test_the_send_api_wants_the_channel_basic_auth(
        app: Flask, client: FlaskClient, phone: Channel, headers: Any, status: int) -> None:
    if isinstance(headers, str):
        headers = _auth(app, phone, headers)
    # Nor does the simulator's own password open it.
    answer = client.post(f"/simulator/android/{phone.id}/messages", json=_body(),
                         headers=headers)
    assert (answer.status_code, answer.get_json()) == (status, {"message": "Unauthorized"})
    assert client.get(f"/simulator/android/{phone.id}/messages/sg-1",
                      headers=headers).status_code == status


@pytest.mark.parametrize("body", [
    {"phoneNumbers": [KHADIJA]},
    {"textMessage": {"text": "hello"}},
    {"textMessage": {"text": ""}, "phoneNumbers": [KHADIJA]},
    {"textMessage": {"text": "hello"}, "phoneNumbers": []},
    {"textMessage": {"text": "hello"}, "phoneNumbers": [KHADIJA, KHADIJA]},
    {"textMessage": "hello", "phoneNumbers": [KHADIJA]},
    [1, 2],
], ids=["no-text", "no-numbers", "empty-text", "empty-numbers", "same-number-twice",
        "text-not-object", "not-an-object"])
def test_a_bad_send_request_is_400(
        app: Flask, client: FlaskClient, phone: Channel, body: Any) -> None:
    answer = client.post(f"/simulator/android/{phone.id}/messages", json=body,
                         headers=_auth(app, phone))
    assert answer.status_code == 400 and answer.get_json()["message"]


def test_only_a_simulated_channel_answers(
        app: Flask, client: FlaskClient, session: Session, phone: Channel) -> None:
    real = Channel(kind="android", name="a real phone", settings={"mode": "local"},
                   secrets=get_box(app).seal({"password": "p", "signing_key": "k"}), health={})
    session.add(real)
    session.commit()
    for channel_id in (real.id, 9999):
        assert client.post(f"/simulator/android/{channel_id}/messages", json=_body(),
                           headers=_auth(app, phone, "p")).status_code == 404
        assert client.get(f"/simulator/android/{channel_id}/health").status_code == 404
    assert client.get(f"/simulator/android/{phone.id}/messages/never-sent",
                      headers=_auth(app, phone)).status_code == 404


def test_the_health_answers_without_auth(client: FlaskClient, phone: Channel) -> None:
    answer = client.get(f"/simulator/android/{phone.id}/health")
    assert answer.status_code == 200 and answer.get_json()["status"] == "pass"


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "messages"), ("POST", "message"), ("GET", "messages/sg-1"), ("GET", "health")])
def test_the_send_api_is_404_when_the_simulator_is_off(
        make_app: Any, method: str, path: str) -> None:
    app = make_app(simulator={"enabled": False})
    response = app.test_client().open(f"/simulator/android/1/{path}", method=method,
                                      json=_body())
    assert response.status_code == 404


def test_the_demo_phone_channel_is_made_once_and_follows_the_server(
        app: Flask, session: Session, demo: Any) -> None:
    first = android.ensure_phone_channel(app, demo.id, "http://127.0.0.1:8000")
    again = android.ensure_phone_channel(app, demo.id, "http://127.0.0.1:8123/", active=False)
    session.expire_all()
    channel = session.get(Channel, first)
    assert again == first and channel.cooperative_id == demo.id
    assert channel.settings["base_url"] == f"http://127.0.0.1:8123/simulator/android/{first}"
    assert str(channel.state) == "disabled"
    sealed = get_box(app).open(channel.secrets)
    assert sealed["password"] and sealed["signing_key"], "both secrets made and sealed"
    assert sealed["password"] not in channel.secrets


def test_make_run_gives_the_demo_its_phone_only_while_the_simulator_is_on(
        app: Flask, session: Session, demo: Any) -> None:
    from smsgateway.devserver import _demo_phone

    assert _demo_phone(app, "127.0.0.1", 8000, simulator=False) is None
    assert session.scalar(select(Channel).where(
        Channel.name == android.SIMULATED_NAME)) is None, "not made while the simulator is off"
    channel_id = _demo_phone(app, "0.0.0.0", 8000, simulator=True)
    session.expire_all()
    channel = session.get(Channel, channel_id)
    # The worker on this machine reaches a server bound to every address on loopback.
    assert channel.settings["base_url"] == f"http://127.0.0.1:8000/simulator/android/{channel_id}"
    assert str(channel.state) == "active" and channel.cooperative_id == demo.id
    assert _demo_phone(app, "127.0.0.1", 8000, simulator=False) is None
    session.expire_all()
    assert str(session.get(Channel, channel_id).state) == "disabled"
