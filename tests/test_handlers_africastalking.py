"""Africa's Talking adapter: parsing, status table, and sending against a fake server."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fakes.providers import FakeAfricasTalking, ProviderHarness
from handlers import africastalking as at
from handlers.base import ParseError, SendError, SmsOut, UssdOut
from smsgateway import outbox
from smsgateway.db import get_db
from smsgateway.models import MessageKind, OutboundMessage, OutboundStatus
from smsgateway.redisconn import get_redis

USSD_CASES = [
    pytest.param({"sessionId": "ATUid_1", "serviceCode": "*384*123#",
                  "phoneNumber": "+212600000002",
                  "networkCode": "99999", "text": ""}, "", id="first-hop"),
    pytest.param({"sessionId": "ATUid_1", "serviceCode": "*384*123#",
                  "phoneNumber": "+212600000002",
                  "networkCode": "99999", "text": "1*2*500"}, "1*2*500", id="cumulative"),
    pytest.param({"sessionId": "s", "phoneNumber": "+212600000002"}, "", id="optional-missing"),
]


@pytest.mark.parametrize(("form", "text"), USSD_CASES)
def test_parse_ussd(form: dict[str, str], text: str) -> None:
    hop = at.parse_ussd(form)
    assert hop.text == text and hop.phone == "+212600000002"


@pytest.mark.parametrize("form", [
    pytest.param({}, id="empty"),
    pytest.param({"sessionId": "s"}, id="no-phone"),
    pytest.param({"phoneNumber": "+212600000002", "text": "1"}, id="no-session"),
    pytest.param({"sessionId": "  ", "phoneNumber": "+2126"}, id="blank-session"),
])
def test_parse_ussd_refuses_missing_fields(form: dict[str, str]) -> None:
    with pytest.raises(ParseError):
        at.parse_ussd(form)


@pytest.mark.parametrize(("out", "body"), [
    pytest.param(UssdOut("1. Stock"), "CON 1. Stock", id="continue"),
    pytest.param(UssdOut("Merci", end=True), "END Merci", id="end"),
])
def test_render_ussd(out: UssdOut, body: str) -> None:
    assert at.render_ussd(out) == body


REPORTS = [
    pytest.param("Success", None, "delivered", False, id="success"),
    pytest.param("Sent", None, "sent", False, id="sent"),
    pytest.param("Buffered", None, "sent", False, id="buffered"),
    pytest.param("Submitted", None, "sent", False, id="submitted"),
    pytest.param("Rejected", "InvalidLinkId", "failed", False, id="rejected"),
    pytest.param("Failed", "UserInBlackList", "failed", True, id="blacklisted"),
    pytest.param("Failed", "AbsentSubscriber", "failed", False, id="absent"),
    pytest.param("Expired", None, "expired", False, id="expired"),
    pytest.param("Teleported", None, "", False, id="unknown-word"),
]


@pytest.mark.parametrize(("word", "reason", "status", "opted_out"), REPORTS)
def test_delivery_reports_map_through_the_table(word: str, reason: str | None, status: str,
                                                opted_out: bool) -> None:
    form = {"id": "ATXid_9", "status": word, "phoneNumber": "+212600000002"}
    if reason:
        form["failureReason"] = reason
    update = at.parse_delivery_report(form)
    assert (update.status, update.failure_reason, update.opted_out) == (status, reason, opted_out)


def test_parse_inbound_sms() -> None:
    sms = at.parse_sms({"from": "+212600000002", "to": "12345", "text": "STOCK", "id": "abc",
                        "date": "2026-11-22 10:00:00", "networkCode": "60401"})
    assert (sms.provider_message_id, sms.sender, sms.text) == ("abc", "+212600000002", "STOCK")
    with pytest.raises(ParseError):
        at.parse_sms({"from": "+212600000002", "text": "STOCK"})


@pytest.mark.parametrize(("cost", "value"), [
    ("MAD 0.2500", Decimal("0.2500")), ("KES 0.8000", Decimal("0.8000")), ("0", Decimal("0")),
    ("", None), ("MAD abc", None),
])
def test_parse_cost(cost: str, value: Decimal | None) -> None:
    assert at.parse_cost(cost) == value


def _provider(server: FakeAfricasTalking, **kwargs: Any) -> at.AfricasTalkingProvider:
    return at.AfricasTalkingProvider(server.username, server.api_key, sender="COOP",
                                     base_url=server.base_url, **kwargs)


def test_one_request_carries_many_recipients_of_one_text() -> None:
    with FakeAfricasTalking() as server:
        messages = [SmsOut(i, f"+2126000001{i:02d}", "Crue ce soir") for i in range(250)]
        messages.append(SmsOut(999, "+212600000002", "Autre texte"))
        results = _provider(server).send(messages)
    assert len(server.requests) == 4  # 100 + 100 + 50 of one text, 1 of the other
    form = server.requests[0].form
    assert (form["username"], form["from"], form["bulkSMSMode"], form["enqueue"]) == (
        "sandbox", "COOP", "1", "1")
    assert server.requests[0].headers["apiKey"] == "test-key"
    assert all(r.error is None and r.provider_message_id.startswith("ATXid_") for r in results)
    assert sorted(r.reference for r in results) == sorted(m.reference for m in messages)
    assert results[0].cost == Decimal("0.2500")


SEND_CODES = [
    pytest.param(403, False, False, id="invalid-number-permanent"),
    pytest.param(406, False, True, id="blacklist-opt-out"),
    pytest.param(500, True, False, id="internal-error-retry"),
    pytest.param(502, True, False, id="rejected-by-gateway-retry"),
]


@pytest.mark.parametrize(("code", "retryable", "opted_out"), SEND_CODES)
def test_per_recipient_errors_say_whether_to_retry(code: int, retryable: bool,
                                                   opted_out: bool) -> None:
    with FakeAfricasTalking() as server:
        server.program("+212600000003", code)
        ok, bad = _provider(server).send([SmsOut(1, "+212600000002", "x"),
                                          SmsOut(2, "+212600000003", "x")])
    assert ok.error is None
    assert bad.error is not None and bad.error.code == str(code)
    assert (bad.error.retryable, bad.error.opted_out) == (retryable, opted_out)


@pytest.mark.parametrize(("status", "retryable"), [
    pytest.param(500, True, id="5xx"), pytest.param(429, True, id="rate-limited"),
    pytest.param(401, False, id="bad-key"), pytest.param(400, False, id="bad-request"),
])
def test_whole_request_failures_raise(status: int, retryable: bool) -> None:
    with FakeAfricasTalking() as server:
        server.fail_next(status=status)
        with pytest.raises(SendError) as info:
            _provider(server).send([SmsOut(1, "+212600000002", "x")])
    assert info.value.retryable is retryable


def test_wrong_api_key_is_permanent() -> None:
    with FakeAfricasTalking() as server:
        provider = at.AfricasTalkingProvider("sandbox", "wrong", base_url=server.base_url)
        with pytest.raises(SendError) as info:
            provider.send([SmsOut(1, "+212600000002", "x")])
    assert not info.value.retryable and info.value.code == "401"


def test_unreachable_server_is_retryable() -> None:
    provider = at.AfricasTalkingProvider("u", "k", base_url="http://127.0.0.1:9", timeout=2)
    with pytest.raises(SendError) as info:
        provider.send([SmsOut(1, "+212600000002", "x")])
    assert info.value.retryable


def test_outbound_message_goes_through_the_fake_with_the_worker(
    fake_africastalking: ProviderHarness, session: Session
) -> None:
    app = fake_africastalking.app
    with app.app_context():
        db_session = get_db(app).sessionmaker()
        message = outbox.add(db_session, to="+212600000002", text="Livraison enregistrée",
                             kind=MessageKind.REPLY)
        outbox.commit_and_send(db_session, [message], get_redis())
        db_session.close()
    assert message.provider == "africastalking"
    fake_africastalking.run_jobs()
    row = session.scalars(select(OutboundMessage)).one()
    assert row.status == OutboundStatus.SENT and row.provider_message_id.startswith("ATXid_")
    assert row.cost == Decimal("0.2500")
    assert fake_africastalking.server.sent == [("+212600000002", "Livraison enregistrée")]
