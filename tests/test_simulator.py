"""The phone simulator's page and JSON API through the Flask client, and its screen reading."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from smsgateway import outbox
from smsgateway.config import load_settings
from smsgateway.exceptions import ConfigError
from smsgateway.models import MessageKind
from smsgateway.redisconn import get_redis
from smsgateway.simulator.relay import read_screen

ROOT = Path(__file__).resolve().parent.parent
ROUTES = [("GET", "/simulator"), ("GET", "/simulator/api/config"),
          ("GET", "/simulator/api/inbox?phone=%2B212600000002"),
          ("POST", "/simulator/api/ussd"), ("POST", "/simulator/api/ussd/end"),
          ("POST", "/simulator/api/sms")]
ROUTE_IDS = ["page", "config", "inbox", "ussd", "ussd-end", "sms"]
KHADIJA = "+212600000002"


@pytest.fixture(autouse=True)
def _simulator_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off by default (config.yaml): these tests turn it on as `smsgateway dev` does."""
    monkeypatch.setenv("SMSGATEWAY__SIMULATOR__ENABLED", "true")


def _basic(password: str) -> dict[str, str]:
    token = base64.b64encode(f"anyone:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=ROUTE_IDS)
def test_disabled_simulator_is_404(make_app: Any, method: str, path: str) -> None:
    client = make_app(simulator={"enabled": False}).test_client()
    assert client.open(path, method=method, json={}).status_code == 404


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize(
    ("headers", "allowed"),
    [({}, False), (_basic("wrong"), False), (_basic("s3cret-sim"), True)],
    ids=["no-password", "wrong-password", "right-password"],
)
def test_password_protects_every_route(
    make_app: Any, demo: Any, method: str, path: str, headers: dict[str, str], allowed: bool
) -> None:
    client = make_app(simulator={"enabled": True, "password": "s3cret-sim"}).test_client()
    response = client.open(path, method=method, json={}, headers=headers)
    if allowed:
        assert response.status_code not in (401, 404)
    else:
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_production_config_turns_the_simulator_off(make_app: Any) -> None:
    settings = load_settings(path=ROOT / "config.production.yaml", environ={})
    assert settings.simulator.enabled is False and settings.simulator.require_password
    app = make_app(simulator=settings.simulator.model_dump())
    assert app.test_client().get("/simulator").status_code == 404


@pytest.mark.parametrize(
    ("environ", "error"),
    [({"SMSGATEWAY__SIMULATOR__ENABLED": "true"}, "SIMULATOR_PASSWORD"),
     ({"SMSGATEWAY__SIMULATOR__ENABLED": "true", "SIMULATOR_PASSWORD": "pw"}, None),
     ({}, None)],
    ids=["enabled-without-password", "enabled-with-password", "disabled"],
)
def test_turning_it_on_in_production_needs_a_password(
    environ: dict[str, str], error: str | None
) -> None:
    path = ROOT / "config.production.yaml"
    if error is None:
        load_settings(path=path, environ=environ)
    else:
        with pytest.raises(ConfigError, match=error):
            load_settings(path=path, environ=environ)


def test_page_draws_the_phone_with_the_demo_members(client: FlaskClient, demo: Any) -> None:
    page = client.get("/simulator").get_data(as_text=True)
    assert 'data-service-code="*384*123#"' in page
    assert 'id="screen"' in page and 'id="inbox"' in page and 'id="call"' in page
    assert "Khadija Oubella" in page and 'data-phone="+212600000002"' in page
    config = client.get("/simulator/api/config").get_json()
    assert config["service_code"] == "*384*123#"
    assert [m["phone"] for m in config["members"]][:2] == ["+212600000001", KHADIJA]


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [("/simulator/api/ussd", {"phone": "hello", "text": ""}, 400, "numéro invalide"),
     ("/simulator/api/ussd", {"phone": KHADIJA, "session_id": "a b"}, 400, "session"),
     ("/simulator/api/ussd", {"phone": KHADIJA, "text": "1" * 2000}, 400, "saisie"),
     ("/simulator/api/ussd", {"phone": KHADIJA, "text": 12}, 400, "saisie"),
     ("/simulator/api/ussd", ["not", "an", "object"], 400, "objet JSON"),
     ("/simulator/api/ussd/end", {"phone": KHADIJA, "session_id": "s1", "status": "Odd"}, 400,
      "statut"),
     ("/simulator/api/sms", {"phone": KHADIJA, "text": "   "}, 400, "message vide"),
     ("/simulator/api/sms", {"phone": KHADIJA, "text": "x" * 1601}, 400, "trop long"),
     ("/simulator/api/sms", {"phone": "", "text": "STOCK"}, 400, "numéro invalide")],
    ids=["bad-phone", "bad-session-id", "huge-text", "text-not-string", "not-an-object",
         "bad-end-status", "empty-sms", "huge-sms", "empty-phone"],
)
def test_bad_requests_get_a_clear_400(
    client: FlaskClient, path: str, body: Any, status: int, error: str
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == status
    assert error in response.get_json()["error"]


def test_posts_must_be_json(client: FlaskClient) -> None:
    # A form posted from another site cannot drive the simulator.
    response = client.post("/simulator/api/sms", data={"phone": KHADIJA, "text": "STOP"})
    assert response.status_code == 415


def test_inbox_shows_only_what_the_worker_sent_to_that_number(
    app: Flask, client: FlaskClient, session: Session, run_jobs: Any
) -> None:
    with app.test_request_context():
        mine = outbox.add(session, to=KHADIJA, text="مرحبا", kind=MessageKind.REPLY)
        other = outbox.add(session, to="+212600000004", text="Bonjour", kind=MessageKind.REPLY)
        outbox.commit_and_send(session, [mine, other], get_redis())
    url = "/simulator/api/inbox?phone=0600000002"
    assert client.get(url).get_json()["messages"] == []  # queued: not on the phone yet
    run_jobs()
    body = client.get(url).get_json()
    assert body["phone"] == KHADIJA
    assert [(m["id"], m["text"], m["encoding"]) for m in body["messages"]] == [
        (mine.id, "مرحبا", "UCS-2")]
    assert client.get(f"{url}&after={mine.id}").get_json()["messages"] == []
    assert client.get(f"{url}&after=0").get_json()["last_id"] == mine.id


@pytest.mark.parametrize(
    ("status", "body", "kind", "text", "encoding", "level"),
    [(200, "CON 1. Stock\n2. Livrer", "CON", "1. Stock\n2. Livrer", "GSM-7", "ok"),
     (200, "END Merci", "END", "Merci", "GSM-7", "ok"),
     (200, "END", "END", "", "GSM-7", "ok"),
     (200, "CON " + "a" * 170, "CON", "a" * 170, "GSM-7", "near"),
     (200, "CON " + "a" * 183, "CON", "a" * 183, "GSM-7", "over"),
     (200, "CON " + "ب" * 75, "CON", "ب" * 75, "UCS-2", "near"),
     (200, "CON " + "ب" * 81, "CON", "ب" * 81, "UCS-2", "over"),
     (200, "CON {[x]}", "CON", "{[x]}", "GSM-7", "ok"),
     (500, '{"error": "Internal Server Error"}', "ERROR", '{"error": "Internal Server Error"}',
      "GSM-7", "ok"),
     (200, "hello", "ERROR", "hello", "GSM-7", "ok")],
    ids=["con", "end", "bare-end", "gsm-near", "gsm-over", "arabic-near", "arabic-over",
         "gsm-extension-counts-twice", "server-error", "not-ussd"],
)
def test_read_screen(status: int, body: str, kind: str, text: str, encoding: str,
                     level: str) -> None:
    screen = read_screen(status, body)
    assert (screen.kind, screen.text, screen.encoding, screen.level) == (
        kind, text, encoding, level)
    assert screen.limit == (80 if encoding == "UCS-2" else 182)
    if body == "CON {[x]}":
        assert screen.length == 9


@pytest.mark.parametrize("secret", [None, "hook-secret"], ids=["no-secret", "secret"])
def test_ussd_relay_plays_the_provider_against_the_real_webhook(
    make_app: Any, demo: Any, secret: str | None
) -> None:
    app = make_app(africastalking={"webhook_secret": secret} if secret else {})
    client = app.test_client()
    body = client.post("/simulator/api/ussd", json={"phone": "0600000002", "text": ""}).get_json()
    assert body["status"] == 200 and body["kind"] == "CON" and "مرحبا" in body["text"]
    assert body["encoding"] == "UCS-2" and body["limit"] == 80
    assert 0 < body["length"] <= 80 and body["phone"] == KHADIJA
    session_id = body["session_id"]
    assert session_id.startswith("ATUid_sim")
    ended = client.post("/simulator/api/ussd/end", json={
        "phone": KHADIJA, "session_id": session_id, "status": "Incomplete", "hops": 1,
        "input": "", "last_response": body["text"], "duration_ms": 900})
    assert ended.get_json() == {"status": 200}
    if secret:
        # The relay added ?secret=; a caller without it is refused by the webhook itself.
        direct = client.post("/webhooks/africastalking/ussd", data={
            "sessionId": "x", "serviceCode": "*384*123#", "phoneNumber": KHADIJA,
            "networkCode": "99999", "text": ""})
        assert direct.status_code == 403


def test_sms_relay_stores_the_message_and_the_reply_reaches_the_inbox(
    app: Flask, client: FlaskClient, demo: Any, session: Session, run_jobs: Any
) -> None:
    from sqlalchemy import select

    from smsgateway.models import InboundMessage

    sent = client.post("/simulator/api/sms", json={"phone": "+212600000004", "text": "prix"})
    assert sent.status_code == 200 and sent.get_json()["status"] == 200
    inbound = session.scalars(select(InboundMessage)).one()
    assert (inbound.sender, inbound.text, inbound.provider) == (
        "+212600000004", "prix", "africastalking")
    assert inbound.provider_message_id == sent.get_json()["id"]
    run_jobs()
    messages = client.get("/simulator/api/inbox?phone=%2B212600000004").get_json()["messages"]
    assert len(messages) == 1 and messages[0]["text"].startswith("Prix")
    assert messages[0]["provider"] == "console" and messages[0]["kind"] == "reply"


@pytest.mark.parametrize("zone,local", [("Africa/Casablanca", "11:00:00"),
                                        ("Asia/Tokyo", "19:00:00")])
def test_inbox_times_are_in_the_cooperative_s_time_zone(
        make_app: Any, zone: str, local: str) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import select

    from smsgateway.db import get_db
    from smsgateway.models import Cooperative, OutboundMessage
    from smsgateway.seed import seed_demo
    from smsgateway.worker import run_burst

    app = make_app()
    with app.app_context(), get_db(app).session() as session:
        seed_demo(session, app.config["SETTINGS"].defaults.region)
        # The cooperative's own zone, not the server's default, decides what she reads.
        session.scalars(select(Cooperative)).one().timezone = zone
        session.commit()
        with app.test_request_context():
            sms = outbox.add(session, to=KHADIJA, text="مرحبا", kind=MessageKind.REPLY)
            outbox.commit_and_send(session, [sms], get_redis())
    run_burst(app)
    with app.app_context(), get_db(app).session() as session:
        row = session.get(OutboundMessage, sms.id)
        row.sent_at = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
        session.commit()
    [message] = app.test_client().get(
        "/simulator/api/inbox?phone=%2B212600000002").get_json()["messages"]
    assert (message["local"], message["zone"]) == (local, zone)
    assert message["at"].startswith("2026-12-02T" + local[:5])


def test_the_simulator_plays_an_android_channel_phone_and_the_reply_goes_back_on_it(
        app: Flask, client: FlaskClient, session: Session, demo: Any, run_jobs: Any) -> None:
    from sqlalchemy import select

    from fakes.smsgate import FakePhone
    from smsgateway.models import InboundMessage, OutboundMessage
    from tests.android_support import add_phone_channel

    with FakePhone() as phone:
        channel = add_phone_channel(app, session, phone, "argan-phone", cooperative_id=demo.id)
        listed = client.get("/simulator/api/config").get_json()["android_channels"]
        answer = client.post("/simulator/api/sms",
                             json={"phone": KHADIJA, "text": "STOCK", "channel": channel.id})
        run_jobs()
        sent = list(phone.sent)
    assert listed == [{"id": channel.id, "name": "argan-phone", "number": phone.number}]
    assert answer.status_code == 200 and answer.get_json()["status"] == 200
    stored = session.scalars(select(InboundMessage)).one()
    # Signed with the channel's key and checked by the real webhook.
    assert (stored.provider, stored.sender, stored.text) == ("android", KHADIJA, "STOCK")
    reply = session.scalars(select(OutboundMessage)).one()
    assert reply.channel_id == channel.id and [to for to, _ in sent] == [KHADIJA]


@pytest.mark.parametrize(("channel", "error"), [(999, "aucun canal"), ("1", "canal invalide")],
                         ids=["unknown-channel", "not-an-id"])
def test_an_android_sms_needs_a_real_android_channel(
        client: FlaskClient, demo: Any, channel: Any, error: str) -> None:
    answer = client.post("/simulator/api/sms",
                         json={"phone": KHADIJA, "text": "STOCK", "channel": channel})
    assert answer.status_code == 400 and error in answer.get_json()["error"]
