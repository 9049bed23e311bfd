"""A long SMS is delivered once every part is: SMSGate reports per part, so does an SMSC."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from fakes.smsc import FakeSmsc
from fakes.smsgate import FakePhone
from smsgateway.models import MessageKind, OutboundMessage, OutboundStatus
from smsgateway.redisconn import get_redis
from smsgateway.reports import PARTS_KEY
from tests.android_support import add_phone_channel, poster
from tests.smpp_support import config_for, queue_messages, rows, running_link, wait_for

KHADIJA = "+212600000002"
ARABIC = "السلام عليكم، هذا تنبيه من التعاونية: فيضان متوقع غدا في الدوار. "

# -- SMSGate: events as the phone emits them ---------------------------------------------------

# label, our segment count, events (sent N: sms:sent with partsCount N; part K: sms:delivered
# of part K; retry K: part K's report again, new envelope; failed), expected status
ANDROID_CASES = [
    ("one part: delivered on its report", 1, ["sent 1", "part 1"], "delivered"),
    ("three parts: the first report alone leaves it sent", 3, ["sent 3", "part 1"], "sent"),
    ("three parts: all three reported", 3, ["sent 3", "part 1", "part 2", "part 3"],
     "delivered"),
    ("three parts: one part's report retried is still one part", 3,
     ["sent 3", "part 1", "retry 1", "retry 1", "part 2"], "sent"),
    ("three parts: a failed part fails it", 3, ["sent 3", "part 1", "failed", "part 2",
                                                "part 3"], "failed"),
    ("the phone's own split wins over our count", 3, ["sent 2", "part 1", "part 2"],
     "delivered"),
    ("no sms:sent heard: our segment count decides", 2, ["part 1", "part 2"], "delivered"),
    ("a late part after delivered changes nothing", 2, ["part 1", "part 2", "retry 2"],
     "delivered"),
]


@pytest.fixture
def phone_channel(app: Flask, session: Session, demo: Any) -> Iterator[tuple[FakePhone, Any]]:
    with FakePhone() as phone:
        yield phone, add_phone_channel(app, session, phone, "argan-phone",
                                       cooperative_id=demo.id)


@pytest.mark.parametrize(("label", "segments", "events", "expected"), ANDROID_CASES,
                         ids=[c[0] for c in ANDROID_CASES])
def test_android_parts(client: FlaskClient, session: Session, phone_channel: Any, label: str,
                       segments: int, events: list[str], expected: str) -> None:
    phone, channel = phone_channel
    row = OutboundMessage(to_phone=KHADIJA, text="x", kind=MessageKind.ALERT,
                          provider="android", channel_id=channel.id, segments=segments,
                          status=OutboundStatus.SENT, provider_message_id="sg-77")
    session.add(row)
    session.commit()
    base = {"messageId": "sg-77", "sender": phone.number, "recipient": KHADIJA,
            "simNumber": 1}
    emitted: dict[str, Any] = {}
    for step in events:
        word, _, arg = step.partition(" ")
        if word == "sent":
            phone.emit("sms:sent", {**base, "partsCount": int(arg),
                                    "sentAt": "2026-12-02T10:00:00.000+01:00"})
        elif word == "part":
            emitted[arg] = phone.emit("sms:delivered", {
                **base, "deliveredAt": f"2026-12-02T10:00:0{arg}.000+01:00"})
        elif word == "retry":
            phone.retry(emitted[arg])
        else:
            phone.emit("sms:failed", {**base, "failedAt": "2026-12-02T10:00:05.000+01:00",
                                      "reason": "RESULT_ERROR_GENERIC_FAILURE"})
    answers = phone.flush(poster(client, channel.id))
    assert [a.status_code for a in answers] == [200] * len(events)
    session.expire_all()
    assert str(session.get(OutboundMessage, row.id).status) == expected


# -- SMPP: one receipt per submit_sm part ------------------------------------------------------

# label, receipt stat by part, parts whose receipt never comes, expected status
SMPP_CASES = [
    ("three parts, each receipted delivered", {}, set(), "delivered"),
    ("three parts, the third never receipted", {}, {3}, "sent"),
    ("three parts, the second undeliverable", {2: "UNDELIV"}, set(), "failed"),
]


@pytest.mark.parametrize(("label", "stats", "silent", "expected"), SMPP_CASES,
                         ids=[c[0] for c in SMPP_CASES])
def test_smpp_parts(app: Flask, run_jobs: Any, label: str, stats: dict[int, str],
                    silent: set[int], expected: str) -> None:
    smsc = FakeSmsc().start()
    smsc.part_stats, smsc.unreceipted_parts = stats, silent
    redis = get_redis(app)
    try:
        with running_link(app, config_for(app, smsc)):
            [message_id] = queue_messages(app, [(KHADIJA, ARABIC * 3)])
            run_jobs()
            wait_for(lambda: len(smsc.submitted) == 3, what="three parts submitted")
            if expected == "sent":
                # Both receipts applied (counted), and the third never comes.
                wait_for(lambda: redis.scard(PARTS_KEY.format(message_id=message_id)) == 2,
                         what="two parts counted")
            else:
                wait_for(lambda: str(rows(app, [message_id])[0].status) == expected,
                         what=f"the message {expected}")
        [row] = rows(app, [message_id])
    finally:
        smsc.stop()
    assert row.segments == 3 and str(row.status) == expected
