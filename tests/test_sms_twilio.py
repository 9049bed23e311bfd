"""Inbound SMS over Twilio: signed webhooks, replies inline in TwiML, against the real app."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

import pytest
from sms_support import (
    AICHA_FR,
    CASE_IDS,
    CASES,
    PUBLIC_BASE,
    Case,
    inbound,
    post_twilio,
    replies_to,
    sign,
    sms_demo,  # noqa: F401  (fixture)
    twilio_form,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fakes.providers import ProviderHarness
from smsgateway.models import Delivery, InboundMessage, OutboundMessage
from smsgateway.queues import REPLIES, get_queue

PATH = "/webhooks/twilio/sms"


@pytest.fixture
def tw(fake_twilio: ProviderHarness, sms_demo: Any) -> ProviderHarness:  # noqa: F811
    """A fake Twilio, an app with its credentials (signatures checked), the demo cooperative."""
    return fake_twilio


def _messages(response: Any) -> list[str]:
    assert response.mimetype == "text/xml"
    root = ElementTree.fromstring(response.get_data())
    assert root.tag == "Response"
    return [node.text or "" for node in root.findall("Message")]


def _count(session: Session, model: Any) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_inbound_case(case: Case, tw: ProviderHarness, session: Session) -> None:
    form = twilio_form(case.phone, case.text)
    response = post_twilio(tw.app.test_client(), PATH, form)
    assert response.status_code == 200
    [answer] = _messages(response)

    stored = inbound(session, "twilio", form["MessageSid"])
    assert stored is not None and stored.status == "processed", stored and stored.error
    assert stored.text == case.text.replace("\x00", "")
    assert stored.sender == case.phone and stored.command == case.command
    assert (stored.member_id is not None) == case.member
    for expected in case.reply:
        assert expected in answer
    if case.check is not None:
        assert case.check(session)
    # The inline reply is on record as sent through Twilio, and nothing else is queued.
    [reply] = replies_to(session, stored.id)
    assert (reply.text, reply.provider, reply.status, reply.kind) == (
        answer, "twilio", "sent", "reply")
    assert reply.sent_at is not None
    assert get_queue(REPLIES, tw.app).count == 0


def test_a_resent_message_gets_the_same_answer_and_is_processed_once(
    tw: ProviderHarness, session: Session
) -> None:
    form = twilio_form(AICHA_FR, "LIVRAISON AMLOU 2")
    client = tw.app.test_client()
    first, again = post_twilio(client, PATH, form), post_twilio(client, PATH, form)
    assert (first.status_code, again.status_code) == (200, 200)
    # Twilio resends when it did not get the answer: give it the reply again, act once.
    assert _messages(again) == _messages(first)
    assert _count(session, InboundMessage) == 1
    assert _count(session, Delivery) == 2
    assert _count(session, OutboundMessage) == 1


def _bad_signatures() -> list[Any]:
    form_path = PUBLIC_BASE + PATH
    return [
        pytest.param({"signature": ""}, id="missing-signature"),
        pytest.param({"signature": "bm90IGEgc2lnbmF0dXJl"}, id="forged-signature"),
        pytest.param({"token": "another-token"}, id="signed-with-another-token"),
        pytest.param({"url": "http://localhost" + PATH}, id="signed-for-another-url"),
        pytest.param({"url": form_path + "?x=1"}, id="signed-for-another-query"),
    ]


@pytest.mark.parametrize("how", _bad_signatures())
def test_a_bad_signature_is_403_and_nothing_is_processed(
    how: dict[str, str], tw: ProviderHarness, session: Session
) -> None:
    form = twilio_form(AICHA_FR, "STOP")
    response = post_twilio(tw.app.test_client(), PATH, form, **how)
    assert response.status_code == 403
    assert _count(session, InboundMessage) == 0
    assert _count(session, OutboundMessage) == 0
    assert not session.scalars(select(InboundMessage)).all()


def test_the_query_string_is_part_of_the_signed_url(tw: ProviderHarness,
                                                    session: Session) -> None:
    form = twilio_form(AICHA_FR, "SOLDE")
    url = PUBLIC_BASE + PATH + "?coop=demo"
    response = tw.app.test_client().post(PATH + "?coop=demo", data=form,
                                         headers={"X-Twilio-Signature": sign(
                                             "test-token", url, form)})
    assert response.status_code == 200
    assert "Votre solde" in _messages(response)[0]


def test_without_public_base_url_the_request_url_is_signed(
    make_app: Any, sms_demo: Any, session: Session  # noqa: F811
) -> None:
    app = make_app(twilio={"account_sid": "ACtest", "auth_token": "tok", "sender": "COOP"})
    form = twilio_form(AICHA_FR, "AIDE")
    client = app.test_client()
    good = post_twilio(client, PATH, form, token="tok", url="http://localhost" + PATH)
    assert good.status_code == 200
    forged = post_twilio(client, PATH, twilio_form(AICHA_FR, "AIDE"), token="tok")
    assert forged.status_code == 403


def test_without_auth_token_nothing_can_be_checked(
    client: Any, sms_demo: Any, session: Session  # noqa: F811
) -> None:
    form = twilio_form(AICHA_FR, "STOCK")
    response = client.post(PATH, data=form)
    assert response.status_code == 200 and "Stock:" in _messages(response)[0]


@pytest.mark.parametrize("drop", ["MessageSid", "From"], ids=["no-sid", "no-from"])
def test_missing_fields_are_400(drop: str, tw: ProviderHarness, session: Session) -> None:
    form = twilio_form(AICHA_FR, "STOCK")
    del form[drop]
    response = post_twilio(tw.app.test_client(), PATH, form)
    assert response.status_code == 400
    assert _count(session, InboundMessage) == 0


def test_a_body_no_provider_sends_is_413(tw: ProviderHarness, session: Session) -> None:
    form = twilio_form(AICHA_FR, "x" * 70_000)
    response = tw.app.test_client().post(PATH, data=form,
                                         headers={"X-Twilio-Signature": "x"})
    assert response.status_code == 413
    assert _count(session, InboundMessage) == 0
