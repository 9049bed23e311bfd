"""Delivery reports: messages really sent to the fake providers, then reported on, in any order."""

from __future__ import annotations

from typing import Any

import pytest
from sms_support import AICHA_FR, KHADIJA_AR, member, post_twilio
from sqlalchemy.orm import Session

from fakes.providers import ProviderHarness
from smsgateway import outbox
from smsgateway.models import MessageKind, OutboundMessage
from smsgateway.redisconn import get_redis

AT_PATH = "/webhooks/africastalking/delivery"
TW_PATH = "/webhooks/twilio/status"


def _send(harness: ProviderHarness, session: Session, provider: str,
          to: str = KHADIJA_AR) -> OutboundMessage:
    with harness.app.app_context():
        message = outbox.add(session, to=to, text="Réunion demain 10h",
                             kind=MessageKind.CONFIRMATION, provider=provider)
        outbox.commit_and_send(session, [message], get_redis())
    harness.run_jobs()
    session.expire_all()
    assert message.status == "sent" and message.provider_message_id
    return message


def _at_report(message_id: str, status: str, reason: str | None = None) -> dict[str, str]:
    form = {"id": message_id, "status": status, "phoneNumber": KHADIJA_AR,
            "networkCode": "60400", "retryCount": "0"}
    if reason:
        form["failureReason"] = reason
    return form


def _tw_report(sid: str, status: str, code: str | None = None) -> dict[str, str]:
    form = {"MessageSid": sid, "MessageStatus": status, "To": KHADIJA_AR, "From": "COOP",
            "AccountSid": "ACtest", "ApiVersion": "2010-04-01"}
    if code:
        form["ErrorCode"] = code
    return form


AT_SEQUENCES = [
    pytest.param([("Sent", None), ("Success", None)], "delivered", None, id="sent-then-success"),
    pytest.param([("Success", None), ("Sent", None)], "delivered", None,
                 id="late-sent-never-overwrites-success"),
    pytest.param([("Buffered", None), ("Submitted", None)], "sent", None, id="in-progress"),
    pytest.param([("Failed", "AbsentSubscriber")], "failed", "AbsentSubscriber",
                 id="failed-keeps-reason"),
    pytest.param([("Success", None), ("Failed", "DeliveryFailure")], "delivered", None,
                 id="final-status-wins"),
    pytest.param([("Rejected", "InsufficientCredit"), ("Sent", None)], "failed",
                 "InsufficientCredit", id="rejected-then-late-sent"),
    pytest.param([("Expired", None)], "expired", None, id="expired"),
    pytest.param([("Whatever", None)], "sent", None, id="unknown-status-word-ignored"),
]


@pytest.mark.parametrize("reports,status,reason", AT_SEQUENCES)
def test_africastalking_delivery_reports(
    reports: list[tuple[str, str | None]], status: str, reason: str | None,
    fake_africastalking: ProviderHarness, demo: Any, session: Session,
) -> None:
    message = _send(fake_africastalking, session, "africastalking")
    client = fake_africastalking.app.test_client()
    for word, why in reports:
        response = client.post(AT_PATH, data=_at_report(message.provider_message_id, word, why))
        assert response.status_code == 200 and response.get_json()["status"] == "applied"
    session.expire_all()
    assert message.status == status
    assert message.failure_reason == reason
    if reason:
        assert message.error_code == reason


def test_africastalking_blacklist_records_an_opt_out(
    fake_africastalking: ProviderHarness, demo: Any, session: Session
) -> None:
    message = _send(fake_africastalking, session, "africastalking")
    form = _at_report(message.provider_message_id, "Failed", "UserInBlackList")
    assert fake_africastalking.app.test_client().post(AT_PATH, data=form).status_code == 200
    session.expire_all()
    assert message.status == "failed" and member(session, KHADIJA_AR).opted_out


@pytest.mark.parametrize("form,status,answer", [
    pytest.param({"id": "ATXid_never_sent", "status": "Success"}, 200, "unknown",
                 id="unknown-id-acknowledged"),
    pytest.param({"status": "Success"}, 400, None, id="no-id"),
    pytest.param({"id": "ATXid_1"}, 400, None, id="no-status"),
])
def test_africastalking_report_edge_cases(form: dict[str, str], status: int, answer: str | None,
                                          client: Any) -> None:
    response = client.post(AT_PATH, data=form)
    assert response.status_code == status
    if answer:
        assert response.get_json()["status"] == answer


def test_africastalking_reports_need_the_secret(make_app: Any) -> None:
    app = make_app(africastalking={"webhook_secret": "s3cret"})
    form = {"id": "ATXid_1", "status": "Success"}
    assert app.test_client().post(AT_PATH, data=form).status_code == 403
    assert app.test_client().post(AT_PATH + "?secret=s3cret", data=form).status_code == 200


TW_SEQUENCES = [
    pytest.param([("sent", None), ("delivered", None)], "delivered", None, None,
                 id="sent-then-delivered"),
    pytest.param([("delivered", None), ("sent", None)], "delivered", None, None,
                 id="late-sent-never-overwrites-delivered"),
    pytest.param([("sending", None)], "sent", None, None, id="sending-is-not-a-step-back"),
    pytest.param([("undelivered", "30003")], "failed", "error 30003", "30003",
                 id="undelivered-keeps-code"),
    pytest.param([("failed", "30005"), ("delivered", None)], "failed", "error 30005", "30005",
                 id="failed-is-final"),
]


@pytest.mark.parametrize("reports,status,reason,code", TW_SEQUENCES)
def test_twilio_status_callbacks(
    reports: list[tuple[str, str | None]], status: str, reason: str | None, code: str | None,
    fake_twilio: ProviderHarness, demo: Any, session: Session,
) -> None:
    message = _send(fake_twilio, session, "twilio")
    client = fake_twilio.app.test_client()
    for word, error in reports:
        response = post_twilio(client, TW_PATH, _tw_report(message.provider_message_id, word,
                                                           error))
        assert response.status_code == 200
    session.expire_all()
    assert (message.status, message.failure_reason, message.error_code) == (
        status, reason, code)


def test_twilio_21610_in_a_callback_records_an_opt_out(
    fake_twilio: ProviderHarness, demo: Any, session: Session
) -> None:
    message = _send(fake_twilio, session, "twilio")
    form = _tw_report(message.provider_message_id, "failed", "21610")
    assert post_twilio(fake_twilio.app.test_client(), TW_PATH, form).status_code == 200
    assert member(session, KHADIJA_AR).opted_out


def test_twilio_21610_on_send_records_an_opt_out(
    fake_twilio: ProviderHarness, demo: Any, session: Session
) -> None:
    fake_twilio.server.program(AICHA_FR, (400, 21610))
    with fake_twilio.app.app_context():
        message = outbox.add(session, to=AICHA_FR, text="Alerte", kind=MessageKind.ALERT,
                             provider="twilio")
        outbox.commit_and_send(session, [message], get_redis())
    fake_twilio.run_jobs()
    session.expire_all()
    assert message.status == "failed" and message.error_code == "21610"
    assert member(session, AICHA_FR).opted_out


def test_a_forged_twilio_callback_changes_nothing(
    fake_twilio: ProviderHarness, demo: Any, session: Session
) -> None:
    message = _send(fake_twilio, session, "twilio")
    form = _tw_report(message.provider_message_id, "failed", "21610")
    response = post_twilio(fake_twilio.app.test_client(), TW_PATH, form, signature="Zm9yZ2Vk")
    assert response.status_code == 403
    session.expire_all()
    assert message.status == "sent" and not member(session, KHADIJA_AR).opted_out


def test_twilio_unknown_sid_is_acknowledged(fake_twilio: ProviderHarness) -> None:
    form = _tw_report("SMnever", "delivered")
    response = post_twilio(fake_twilio.app.test_client(), TW_PATH, form)
    assert response.status_code == 200 and response.get_json()["status"] == "unknown"
