"""Twilio adapter: signatures, parsing, TwiML, status table, and sending against a fake."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from fakes.providers import FakeTwilio, ProviderHarness
from handlers import twilio as tw
from handlers.base import ParseError, SmsOut
from smsgateway import outbox
from smsgateway.db import get_db
from smsgateway.models import Member, MessageKind, OutboundMessage, OutboundStatus
from smsgateway.redisconn import get_redis

URL = "https://gateway.example.org/webhooks/twilio/sms"
PARAMS = {"MessageSid": "SM1", "AccountSid": "ACtest", "From": "+212600000002",
          "To": "+15005550006", "Body": "STOCK"}


def _sign(token: str, url: str, params: dict[str, str]) -> str:
    return RequestValidator(token).compute_signature(url, params)


SIGNATURES = [
    pytest.param(_sign("tok", URL, PARAMS), URL, PARAMS, True, id="valid"),
    pytest.param(_sign("tok", URL, PARAMS), "https://gateway.example.org:443/webhooks/twilio/sms",
                 PARAMS, True, id="default-port"),
    pytest.param(_sign("other", URL, PARAMS), URL, PARAMS, False, id="wrong-token"),
    pytest.param(_sign("tok", URL, PARAMS), URL, {**PARAMS, "Body": "STOP"}, False,
                 id="tampered-body"),
    pytest.param("", URL, PARAMS, False, id="missing"),
    pytest.param(None, URL, PARAMS, False, id="none"),
]


@pytest.mark.parametrize(("signature", "url", "params", "valid"), SIGNATURES)
def test_validate_signature(signature: str | None, url: str, params: dict[str, str],
                            valid: bool) -> None:
    assert tw.validate_signature("tok", url, params, signature) is valid


def test_parse_sms() -> None:
    sms = tw.parse_sms({**PARAMS, "NumMedia": "0", "SomethingNew": "x"})
    assert (sms.provider, sms.provider_message_id, sms.sender, sms.text) == (
        "twilio", "SM1", "+212600000002", "STOCK")
    with pytest.raises(ParseError):
        tw.parse_sms({"From": "+212600000002", "Body": "x"})


STATUSES = [
    pytest.param("queued", None, "queued", False, id="queued"),
    pytest.param("sent", None, "sent", False, id="sent"),
    pytest.param("delivered", None, "delivered", False, id="delivered"),
    pytest.param("undelivered", "30003", "failed", False, id="undelivered"),
    pytest.param("failed", "21610", "failed", True, id="opted-out"),
    pytest.param("bogus", None, "", False, id="unknown-word"),
]


@pytest.mark.parametrize(("word", "code", "status", "opted_out"), STATUSES)
def test_status_callbacks_map_through_the_table(word: str, code: str | None, status: str,
                                                opted_out: bool) -> None:
    form = {"MessageSid": "SM1", "MessageStatus": word}
    if code:
        form["ErrorCode"] = code
    update = tw.parse_status(form)
    assert (update.status, update.error_code, update.opted_out) == (status, code, opted_out)


@pytest.mark.parametrize(("texts", "xml"), [
    pytest.param([], '<?xml version="1.0" encoding="UTF-8"?><Response/>', id="empty"),
    pytest.param(["Stock: 5 < 10 & plus"],
                 '<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
                 "Stock: 5 &lt; 10 &amp; plus</Message></Response>", id="escaped"),
])
def test_render_twiml(texts: list[str], xml: str) -> None:
    assert tw.render_twiml(texts) == xml


ERRORS = [
    pytest.param(400, 21610, False, True, id="stop-opt-out"),
    pytest.param(400, 21211, False, False, id="invalid-number"),
    pytest.param(400, 21614, False, False, id="landline"),
    pytest.param(429, 20429, True, False, id="too-many-requests"),
    pytest.param(503, 30001, True, False, id="queue-overflow"),
    pytest.param(500, 20500, True, False, id="internal"),
]


def _provider(server: FakeTwilio) -> tw.TwilioProvider:
    return tw.TwilioProvider(server.account_sid, server.auth_token, "COOP",
                             base_url=server.base_url,
                             status_callback="https://gateway.example.org/webhooks/twilio/status")


@pytest.mark.parametrize(("status", "code", "retryable", "opted_out"), ERRORS)
def test_send_errors_say_whether_to_retry(status: int, code: int, retryable: bool,
                                          opted_out: bool) -> None:
    with FakeTwilio() as server:
        server.program("+212600000003", (status, code))
        ok, bad = _provider(server).send([SmsOut(1, "+212600000002", "x"),
                                          SmsOut(2, "+212600000003", "x")])
    assert ok.error is None and ok.provider_message_id.startswith("SM")
    assert bad.error is not None and bad.error.code == str(code)
    assert (bad.error.retryable, bad.error.opted_out) == (retryable, opted_out)


def test_each_message_is_one_authenticated_request() -> None:
    with FakeTwilio() as server:
        results = _provider(server).send([SmsOut(i, f"+2126000001{i:02d}", f"m{i}")
                                          for i in range(20)])
    assert len(server.requests) == 20 and all(r.error is None for r in results)
    form = server.requests[0].form
    assert form["From"] == "COOP"
    assert form["StatusCallback"] == "https://gateway.example.org/webhooks/twilio/status"
    assert [r.reference for r in results] == list(range(20))


def test_wrong_credentials_are_permanent() -> None:
    with FakeTwilio() as server:
        provider = tw.TwilioProvider(server.account_sid, "wrong", "COOP",
                                     base_url=server.base_url)
        (result,) = provider.send([SmsOut(1, "+212600000002", "x")])
    assert result.error is not None and not result.error.retryable


def test_21610_on_send_records_an_opt_out(fake_twilio: ProviderHarness, demo: object,
                                          session: Session) -> None:
    fake_twilio.server.program("+212600000003", (400, 21610))
    app = fake_twilio.app
    with app.app_context():
        db_session = get_db(app).sessionmaker()
        messages = [outbox.add(db_session, to=phone, text="Réunion jeudi",
                               kind=MessageKind.CONFIRMATION)
                    for phone in ("+212600000002", "+212600000003")]
        outbox.commit_and_send(db_session, messages, get_redis())
        db_session.close()
    fake_twilio.run_jobs()
    rows = {m.to_phone: m for m in session.scalars(select(OutboundMessage))}
    assert rows["+212600000002"].status == OutboundStatus.SENT
    assert rows["+212600000003"].status == OutboundStatus.FAILED
    assert rows["+212600000003"].error_code == "21610"
    member = session.scalars(select(Member).where(Member.phone == "+212600000003")).one()
    assert member.opted_out and member.opted_out_at is not None
    assert rows["+212600000002"].cost == Decimal("0.83")
