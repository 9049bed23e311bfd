"""Inbound SMS over Africa's Talking: the real app, Redis, database, worker and a fake AT API."""

from __future__ import annotations

from typing import Any

import pytest
from sms_support import (
    AICHA_FR,
    CASE_IDS,
    CASES,
    KHADIJA_AR,
    Case,
    at_form,
    inbound,
    member,
    new_id,
    replies_to,
    sms_demo,  # noqa: F401  (fixture)
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fakes.providers import ProviderHarness
from smsgateway.models import Delivery, InboundMessage, OutboundMessage
from smsgateway.queues import REPLIES, get_queue
from smsgateway.sms import dispatch

PATH = "/webhooks/africastalking/sms"


@pytest.fixture
def at(fake_africastalking: ProviderHarness, sms_demo: Any) -> ProviderHarness:  # noqa: F811
    """A fake Africa's Talking, an app sending through it, and the demo cooperative."""
    return fake_africastalking


def _count(session: Session, model: Any) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_inbound_case(case: Case, at: ProviderHarness, session: Session) -> None:
    form = at_form(case.phone, case.text)
    response = at.app.test_client().post(PATH, data=form)
    assert response.status_code == 200
    assert response.get_json()["status"] == "received"

    stored = inbound(session, "africastalking", form["id"])
    assert stored is not None and stored.status == "processed", stored and stored.error
    assert stored.text == case.text.replace("\x00", "")
    assert stored.sender == case.phone and stored.command == case.command
    assert (stored.member_id is not None) == case.member
    [reply] = replies_to(session, stored.id)
    assert reply.kind == "reply" and reply.provider == "africastalking"
    assert reply.to_phone == case.phone
    for expected in case.reply:
        assert expected in reply.text
    if case.check is not None:
        assert case.check(session)

    # The reply leaves on the replies queue, through the send API, in the provider's format.
    assert get_queue(REPLIES, at.app).count == 1
    at.run_jobs()
    assert at.server.sent == [(case.phone, reply.text)]
    session.expire_all()
    assert reply.status == "sent" and reply.provider_message_id.startswith("ATXid_")


def test_a_resent_message_is_answered_200_and_processed_once(
    at: ProviderHarness, session: Session
) -> None:
    form = at_form(AICHA_FR, "LIVRAISON ARGAN 5")
    client = at.app.test_client()
    first, again = client.post(PATH, data=form), client.post(PATH, data=form)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json() == {"status": "duplicate", "id": first.get_json()["id"]}
    assert _count(session, InboundMessage) == 1
    assert _count(session, Delivery) == 2  # the seeded one and this one, once
    assert _count(session, OutboundMessage) == 1
    at.run_jobs()
    assert len(at.server.sent) == 1


@pytest.mark.parametrize("form", [
    {"from": AICHA_FR, "to": "20880", "text": "STOCK"},
    {"id": "ATXid_x", "to": "20880", "text": "STOCK"},
    {"id": "ATXid_x", "from": "  ", "text": "STOCK"},
    {"id": "A" * 101, "from": AICHA_FR, "text": "STOCK"},
    {},
], ids=["no-id", "no-from", "blank-from", "id-too-long", "empty-form"])
def test_missing_fields_are_400_and_nothing_is_stored(
    form: dict[str, str], at: ProviderHarness, session: Session
) -> None:
    response = at.app.test_client().post(PATH, data=form)
    assert response.status_code == 400
    assert "error" in response.get_json()
    assert _count(session, InboundMessage) == 0


def test_a_body_no_provider_sends_is_413(at: ProviderHarness, session: Session) -> None:
    response = at.app.test_client().post(PATH, data=at_form(AICHA_FR, "x" * 70_000))
    assert response.status_code == 413
    assert _count(session, InboundMessage) == 0


@pytest.mark.parametrize("query,status", [
    ("", 403), ("?secret=wrong", 403), ("?secret=s3cret", 200),
], ids=["missing-secret", "wrong-secret", "right-secret"])
def test_webhook_secret(query: str, status: int, make_app: Any, sms_demo: Any,  # noqa: F811
                        session: Session) -> None:
    app = make_app(africastalking={"webhook_secret": "s3cret"})
    form = at_form(AICHA_FR, "STOCK")
    assert app.test_client().post(PATH + query, data=form).status_code == status
    assert (inbound(session, "africastalking", form["id"]) is not None) == (status == 200)


def test_a_sender_that_is_no_phone_is_stored_and_not_answered(
    at: ProviderHarness, session: Session
) -> None:
    form = at_form("INFOSMS", "Promo!")
    assert at.app.test_client().post(PATH, data=form).status_code == 200
    stored = inbound(session, "africastalking", form["id"])
    assert stored.sender == "INFOSMS" and "no reply" in stored.error
    assert replies_to(session, stored.id) == []


def test_stop_then_start(at: ProviderHarness, session: Session) -> None:
    client = at.app.test_client()
    client.post(PATH, data=at_form(KHADIJA_AR, "STOP"))
    assert member(session, KHADIJA_AR).opted_out
    response = client.post(PATH, data=at_form(KHADIJA_AR, "ابدأ"))
    assert response.status_code == 200
    khadija = member(session, KHADIJA_AR)
    assert not khadija.opted_out and khadija.opted_out_at is None
    last = session.scalars(select(OutboundMessage).order_by(OutboundMessage.id.desc())).first()
    assert "ستتوصلين بالتنبيهات" in last.text


def test_a_failing_action_keeps_the_message_and_apologises(
    at: ProviderHarness, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_ctx: Any, _command: Any) -> str:
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(dispatch.KEYWORD_ACTIONS, "stock", broken)
    form = at_form(AICHA_FR, "STOCK")
    assert at.app.test_client().post(PATH, data=form).status_code == 200
    stored = inbound(session, "africastalking", form["id"])
    assert stored.status == "failed" and "disk on fire" in stored.error
    assert [r.text for r in replies_to(session, stored.id)] == ["Erreur. Réessayez plus tard."]


def test_simulator_messages_are_answered_on_the_console(
    at: ProviderHarness, session: Session
) -> None:
    form = at_form(AICHA_FR, "SOLDE", message_id=new_id("sim-"))
    assert at.app.test_client().post(PATH, data=form).status_code == 200
    [reply] = replies_to(session, inbound(session, "africastalking", form["id"]).id)
    assert reply.provider == "console"
    at.run_jobs()
    assert at.server.sent == []


def test_without_credentials_replies_go_to_the_console(
    client: Any, sms_demo: Any, session: Session  # noqa: F811
) -> None:
    form = at_form(AICHA_FR, "STOCK")
    assert client.post(PATH, data=form).status_code == 200
    [reply] = replies_to(session, inbound(session, "africastalking", form["id"]).id)
    assert reply.provider == "console" and reply.status == "queued"
