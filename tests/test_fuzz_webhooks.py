"""Every webhook under fuzzed forms and bodies: no 500, and a refused request stores nothing.

Runs on whichever database the suite runs on (SQLite by default, PostgreSQL in CI), where
NUL bytes and over-long fields used to reach the database and answer 500.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from smsgateway import outbox
from smsgateway.db import utcnow
from smsgateway.models import (
    AuditLog,
    InboundMessage,
    MessageKind,
    OutboundMessage,
    OutboundStatus,
)
from tests.sms_support import AICHA_FR, at_form, new_id, twilio_form

FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

#: Text the form encoder can carry: anything but lone surrogates.
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
NASTY = st.sampled_from(["", " ", "\x00", "x\x00y", "\x01\x7f", "0" * 5000, "é" * 3000,
                         "-1", "9" * 400, "+212600000004", "0600000004", "*384*123#",
                         "1*2*3*" * 100, "Success", "2026-11-22 10:00:00", "🙂" * 50])
VALUE = st.one_of(ANY_TEXT, NASTY, ANY_TEXT.map(lambda t: f"+2126{t}\x00{t}"),
                  st.text(min_size=101, max_size=6000))


def _form(base: dict[str, str]) -> st.SearchStrategy[dict[str, str]]:
    """``base`` with each field kept, dropped or replaced, plus a few unknown fields."""
    fields = {name: st.one_of(st.just(value), st.none(), VALUE) for name, value in base.items()}
    extras = st.dictionaries(ANY_TEXT.filter(bool), VALUE, max_size=3)
    return st.tuples(st.fixed_dictionaries(fields), extras).map(
        lambda pair: {**pair[1], **{k: v for k, v in pair[0].items() if v is not None}})


def _with_fresh_id(key: str) -> Any:
    # A new provider id per example, unless the fuzzer replaced it.
    def fresh(form: dict[str, str]) -> dict[str, str]:
        if form.get(key, "").startswith(("ATXid_in", "SM")):
            form[key] = new_id("ATXid_fz" if key == "id" else "SMfz")
        return form
    return fresh


WEBHOOKS = {
    "at-ussd": ("/webhooks/africastalking/ussd", _form({
        "sessionId": "ATUid_fz", "serviceCode": "*384*123#", "phoneNumber": AICHA_FR,
        "networkCode": "60400", "text": "1"})),
    "at-ussd-events": ("/webhooks/africastalking/ussd/events", _form({
        "date": "2026-11-22 10:00:00", "sessionId": "ATUid_fz", "serviceCode": "*384*123#",
        "networkCode": "60400", "phoneNumber": AICHA_FR, "status": "Success", "cost": "0",
        "durationInMillis": "9000", "hopsCount": "3", "input": "1", "lastAppResponse": "END x",
        "errorMessage": ""})),
    "at-sms": ("/webhooks/africastalking/sms",
               _form(at_form(AICHA_FR, "STOCK")).map(_with_fresh_id("id"))),
    "at-delivery": ("/webhooks/africastalking/delivery", _form({
        "id": "ATXid_out1", "status": "Success", "phoneNumber": AICHA_FR,
        "networkCode": "60400", "failureReason": "", "retryCount": "0"})),
    "twilio-sms": ("/webhooks/twilio/sms",
                   _form(twilio_form(AICHA_FR, "STOCK")).map(_with_fresh_id("MessageSid"))),
    "twilio-status": ("/webhooks/twilio/status", _form({
        "MessageSid": "SMout1", "MessageStatus": "delivered", "ErrorCode": "",
        "To": AICHA_FR, "From": "COOP", "AccountSid": "ACtest"})),
}


def _counts(session: Session) -> tuple[int, int, int]:
    session.expire_all()
    return tuple(session.scalar(select(func.count()).select_from(model))  # type: ignore[return-value]
                 for model in (InboundMessage, OutboundMessage, AuditLog))


def _check(app: Any, session: Session, path: str, **request: Any) -> None:
    before = _counts(session)
    response = app.test_client().post(path, **request)
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert _counts(session) == before, "a refused request stored something"
    if path.endswith("/ussd"):
        assert response.status_code == 200
        assert response.get_data(as_text=True).startswith(("CON ", "END "))


@pytest.fixture
def fuzz_app(make_app: Any, demo: Any, session: Session) -> Any:
    """The gateway with the demo cooperative, two sent messages for the delivery reports to
    find, and limits that let the fuzzer through."""
    for provider, sid in (("africastalking", "ATXid_out1"), ("twilio", "SMout1")):
        message_id = outbox.insert_one(session, to=AICHA_FR, text="x", kind=MessageKind.REPLY,
                                       provider=provider, sent_at=utcnow())
        session.execute(update(OutboundMessage).where(OutboundMessage.id == message_id)
                        .values(provider_message_id=sid, status=OutboundStatus.SENT))
    session.commit()
    return make_app(limits={"replies_per_window": 1000, "loop_repeats": 1000})


@pytest.mark.slow
@pytest.mark.parametrize("name", list(WEBHOOKS))
def test_fuzzed_forms(fuzz_app: Any, session: Session, name: str) -> None:
    path, forms = WEBHOOKS[name]

    @FUZZ
    @given(form=forms)
    def run(form: dict[str, str]) -> None:
        _check(fuzz_app, session, path, data=form)

    run()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(WEBHOOKS))
def test_fuzzed_raw_bodies(fuzz_app: Any, session: Session, name: str) -> None:
    path, _ = WEBHOOKS[name]

    @settings(FUZZ, max_examples=60)
    @given(body=st.binary(max_size=2000),
           content_type=st.sampled_from(["application/x-www-form-urlencoded",
                                         "multipart/form-data; boundary=x", "text/plain", ""]))
    def run(body: bytes, content_type: str) -> None:
        _check(fuzz_app, session, path, data=body, content_type=content_type)

    run()
