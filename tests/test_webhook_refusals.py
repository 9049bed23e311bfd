"""Callbacks missing what the provider always sends are refused: 400, nothing stored or sent."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smsgateway.models import AuditLog, InboundMessage, OutboundMessage
from smsgateway.queues import REPLIES, get_queue
from tests.sms_support import AICHA_FR, at_form, twilio_form

AT_SMS = "/webhooks/africastalking/sms"
AT_DELIVERY = "/webhooks/africastalking/delivery"
AT_EVENTS = "/webhooks/africastalking/ussd/events"
TW_SMS = "/webhooks/twilio/sms"
TW_STATUS = "/webhooks/twilio/status"

EVENT = {"date": "2026-11-22 10:00:00", "sessionId": "ATUid_1", "serviceCode": "*384*123#",
         "networkCode": "60400", "phoneNumber": AICHA_FR, "status": "Success",
         "cost": "MAD 0.0", "durationInMillis": "9000", "hopsCount": "3", "input": "1",
         "lastAppResponse": "END Merci", "errorMessage": ""}


def _without(form: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in form.items() if k not in names}


def _with(form: dict[str, str], **values: str) -> dict[str, str]:
    return {**form, **values}


REFUSED = [
    pytest.param(AT_SMS, _without(at_form(AICHA_FR, "STOCK"), "text"), id="at-sms-no-text"),
    pytest.param(AT_SMS, _without(at_form(AICHA_FR, "STOCK"), "date"), id="at-sms-no-date"),
    pytest.param(AT_SMS, _with(at_form(AICHA_FR, "STOCK"), date="yesterday"),
                 id="at-sms-date-not-a-date"),
    pytest.param(AT_SMS, _with(at_form(AICHA_FR, "STOCK"), date="2026-13-45 10:00:00"),
                 id="at-sms-date-out-of-range"),
    pytest.param(AT_SMS, _with(at_form(AICHA_FR, "STOCK"), date="22/11/2026"),
                 id="at-sms-date-other-format"),
    pytest.param(AT_SMS, _without(at_form(AICHA_FR, "STOCK"), "to"), id="at-sms-no-to"),
    pytest.param(AT_SMS, _without(at_form(AICHA_FR, "STOCK"), "id"), id="at-sms-no-id"),
    pytest.param(AT_SMS, _with(at_form(AICHA_FR, "STOCK"), id="AT\x00x"), id="at-sms-nul-id"),
    pytest.param(AT_SMS, _with(at_form(AICHA_FR, "STOCK"), id="x" * 101), id="at-sms-long-id"),
    pytest.param(AT_SMS, _with(at_form(AICHA_FR, "STOCK"), **{"from": "+2126\x0000"}),
                 id="at-sms-control-in-from"),
    pytest.param(TW_SMS, _without(twilio_form(AICHA_FR, "STOCK"), "Body"), id="tw-sms-no-body"),
    pytest.param(TW_SMS, _without(twilio_form(AICHA_FR, "STOCK"), "To"), id="tw-sms-no-to"),
    pytest.param(TW_SMS, _without(twilio_form(AICHA_FR, "STOCK"), "AccountSid"),
                 id="tw-sms-no-account"),
    pytest.param(AT_DELIVERY, {"id": "ATXid_1"}, id="at-delivery-no-status"),
    pytest.param(AT_DELIVERY, {"id": "ATXid\x00", "status": "Success"}, id="at-delivery-nul"),
    pytest.param(TW_STATUS, {"MessageSid": "SM1"}, id="tw-status-no-status"),
    pytest.param(AT_EVENTS, _without(EVENT, "status"), id="events-no-status"),
    pytest.param(AT_EVENTS, _with(EVENT, status="Maybe"), id="events-unknown-status"),
    pytest.param(AT_EVENTS, _with(EVENT, sessionId="s\x00"), id="events-nul-session"),
    pytest.param(AT_EVENTS, _with(EVENT, phoneNumber="+2126\x0000"), id="events-nul-phone"),
    pytest.param(AT_EVENTS, _with(EVENT, phoneNumber="+" + "1" * 5000), id="events-long-phone"),
]


def _counts(session: Session) -> tuple[int, ...]:
    session.expire_all()
    return tuple(session.scalar(select(func.count()).select_from(model))
                 for model in (InboundMessage, OutboundMessage, AuditLog))


@pytest.mark.parametrize(("path", "form"), REFUSED)
def test_refused_with_400_and_nothing_stored_or_sent(
    app: Any, demo: Any, session: Session, path: str, form: dict[str, str]
) -> None:
    before = _counts(session)
    response = app.test_client().post(path, data=form)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert _counts(session) == before
    assert get_queue(REPLIES, app).count == 0


@pytest.mark.parametrize("form", [
    pytest.param(_with(EVENT, errorMessage="\x00" * 3 + "e" * 9000), id="nul-long-error"),
    pytest.param(_with(EVENT, lastAppResponse="x\x00" * 4000, input="1*" * 3000),
                 id="nul-long-extras"),
    pytest.param(_with(EVENT, hopsCount="9" * 400, durationInMillis="-" * 50),
                 id="huge-numbers"),
], )
def test_session_end_with_garbage_around_its_fields_is_stored_clean(
    app: Any, session: Session, form: dict[str, str]
) -> None:
    response = app.test_client().post(AT_EVENTS, data=form)
    assert response.status_code == 200
    session.expire_all()
    [entry] = session.scalars(select(AuditLog)).all()
    assert "\x00" not in str(entry.details) and len(str(entry.details)) < 1000
