"""Broadcasts through fake Africa's Talking and Twilio servers on loopback."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from fakes.providers import FakeAfricasTalking, FakeTwilio
from handlers import africastalking as at
from handlers import twilio as tw
from smsgateway import broadcasts, outbox
from smsgateway.db import get_db
from smsgateway.models import Member, MessageKind, OutboundMessage
from smsgateway.redisconn import get_redis
from smsgateway.reports import apply_status
from smsgateway.worker import run_burst
from tests.broadcast_support import app_with, make_coop, phone, sent_rows

FAST_RETRIES = {"retry_delays": [0], "max_attempts": 3}


@pytest.fixture
def at_server() -> Iterator[FakeAfricasTalking]:
    with FakeAfricasTalking() as server:
        yield server


@pytest.fixture
def tw_server() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


def at_app(make_app: Any, server: FakeAfricasTalking, **broadcast: Any) -> Flask:
    return app_with(make_app, broadcast={**FAST_RETRIES, **broadcast},
                    africastalking={"username": server.username, "api_key": server.api_key,
                                    "base_url": server.base_url, "sender": "COOP"})


def tw_app(make_app: Any, server: FakeTwilio, **broadcast: Any) -> Flask:
    return app_with(make_app, broadcast={**FAST_RETRIES, **broadcast},
                    twilio={"account_sid": server.account_sid, "auth_token": server.auth_token,
                            "base_url": server.base_url, "sender": "COOP"})


def populate(app: Flask, count: int, opted_out: tuple[int, ...] = ()) -> int:
    """A cooperative of ``count`` members (numbers 1..count); returns its id."""
    with app.app_context(), get_db(app).session() as session:
        coop = make_coop(session, "souss")
        session.execute(Member.__table__.insert(), [
            {"cooperative_id": coop.id, "phone": phone(n), "name": f"M{n}", "language": "fr",
             "role": "member", "active": True, "opted_out": n in opted_out}
            for n in range(1, count + 1)])
        return coop.id


def broadcast_to(app: Flask, coop_id: int, text: str = "Crue ce soir: restez chez vous",
                 urgent: bool = True) -> int:
    with app.app_context():
        with get_db(app).session() as session:
            created = broadcasts.create(session, current_app.config["SETTINGS"],
                                        cooperative_id=coop_id, audience={},
                                        texts={"fr": text}, urgent=urgent)
            session.commit()
            broadcast_id = created.id
        broadcasts.start(get_db(), get_redis(), broadcast_id)
    run_burst(app)
    return broadcast_id


def rows_of(app: Flask, broadcast_id: int) -> dict[str, OutboundMessage]:
    with app.app_context():
        session = get_db(app).sessionmaker()
        try:
            return {r.to_phone: r for r in sent_rows(session, broadcast_id)}
        finally:
            session.close()


@pytest.mark.parametrize("urgent", [True, False], ids=["urgent", "routine"])
def test_africastalking_every_recipient_once_in_batches(
        make_app: Any, at_server: FakeAfricasTalking, urgent: bool) -> None:
    app = at_app(make_app, at_server)
    coop_id = populate(app, 250, opted_out=(7, 8))
    broadcast_id = broadcast_to(app, coop_id, urgent=urgent)
    received = Counter(number for number, _ in at_server.sent)
    assert set(received.values()) == {1} and len(received) == 248
    assert phone(7) not in received and phone(8) not in received
    # 248 recipients of one text in batches of 100: three requests.
    assert [len(r.form["to"].split(",")) for r in at_server.requests] == [100, 100, 48]
    rows = rows_of(app, broadcast_id)
    assert {r.status for r in rows.values()} == {"sent"} and len(rows) == 248
    with app.app_context(), get_db(app).session() as session:
        progress = broadcasts.progress(session, broadcast_id)
    assert (progress.status, progress.counts, str(progress.cost)) == (
        "done", {"sent": 248}, "62.0000")


@pytest.mark.parametrize(
    ("code", "status", "reason", "tries", "opted_out"),
    [
        (403, "failed", "InvalidPhoneNumber", 1, False),
        (406, "failed", "opted out", 1, True),
        (500, "failed", "InternalServerError", 3, False),
        (102, "sent", None, 1, False),
    ],
    ids=["invalid-not-retried", "blacklist-opts-out", "500-retried-then-failed", "queued-ok"],
)
def test_africastalking_per_recipient_outcomes(
        make_app: Any, at_server: FakeAfricasTalking, code: int, status: str,
        reason: str | None, tries: int, opted_out: bool) -> None:
    app = at_app(make_app, at_server)
    coop_id = populate(app, 5)
    at_server.program(phone(3), code)
    broadcast_id = broadcast_to(app, coop_id)
    received = Counter(number for number, _ in at_server.sent)
    assert received[phone(3)] == tries
    assert all(received[phone(n)] == 1 for n in (1, 2, 4, 5))
    row = rows_of(app, broadcast_id)[phone(3)]
    assert (row.status, row.failure_reason, row.attempts) == (status, reason, tries)
    with app.app_context(), get_db(app).session() as session:
        member = session.scalar(select(Member).where(Member.phone == phone(3)))
        assert member.opted_out == opted_out
        progress = broadcasts.progress(session, broadcast_id)
        assert progress.opted_out == int(opted_out) and progress.status == "done"
        if status == "failed":
            assert progress.failed_by_reason == {reason: 1}


@pytest.mark.parametrize(
    ("http_status", "retried"), [(500, True), (503, True), (429, True), (401, False)],
    ids=["500", "503", "429", "401-permanent"])
def test_africastalking_whole_request_failure(
        make_app: Any, at_server: FakeAfricasTalking, http_status: int, retried: bool) -> None:
    app = at_app(make_app, at_server)
    coop_id = populate(app, 4)
    at_server.fail_next(1, http_status)
    broadcast_id = broadcast_to(app, coop_id)
    rows = rows_of(app, broadcast_id)
    assert len(at_server.requests) == (2 if retried else 1)
    expected = ("sent", 2) if retried else ("failed", 1)
    assert {(r.status, r.attempts) for r in rows.values()} == {expected}


def test_africastalking_gives_up_after_max_attempts(
        make_app: Any, at_server: FakeAfricasTalking) -> None:
    app = at_app(make_app, at_server)
    coop_id = populate(app, 2)
    at_server.fail_next(10, 502)
    broadcast_id = broadcast_to(app, coop_id)
    assert len(at_server.requests) == 3
    assert {(r.status, r.failure_reason) for r in rows_of(app, broadcast_id).values()} == {
        ("failed", "HTTP 502")}


@pytest.mark.parametrize(
    ("outcome", "status", "tries", "opted_out"),
    [
        ((400, 21610), "failed", 1, True),
        ((400, 21211), "failed", 1, False),
        ((429, 20429), "failed", 3, False),
        ((503, 30001), "failed", 3, False),
    ],
    ids=["21610-opt-out", "21211-invalid", "429-retried", "5xx-retried"],
)
def test_twilio_one_request_per_recipient(
        make_app: Any, tw_server: FakeTwilio, outcome: tuple[int, int], status: str, tries: int,
        opted_out: bool) -> None:
    app = tw_app(make_app, tw_server)
    coop_id = populate(app, 20)
    tw_server.program(phone(5), outcome)
    broadcast_id = broadcast_to(app, coop_id)
    tried = Counter(r.form["To"] for r in tw_server.requests)
    assert tried[phone(5)] == tries
    assert {tried[phone(n)] for n in range(1, 21) if n != 5} == {1}
    rows = rows_of(app, broadcast_id)
    assert rows[phone(5)].status == status and rows[phone(5)].attempts == tries
    assert sum(r.status == "sent" for r in rows.values()) == 19
    with app.app_context(), get_db(app).session() as session:
        assert session.scalar(select(Member.opted_out).where(Member.phone == phone(5))) == (
            opted_out)


@pytest.mark.parametrize(
    ("reports", "status", "reason"),
    [
        (["Success"], "delivered", None),
        (["Buffered", "Success"], "delivered", None),
        (["Success", "Sent"], "delivered", None),
        (["Failed:AbsentSubscriber"], "failed", "AbsentSubscriber"),
        (["Failed:UserInBlackList", "Success"], "failed", "opted out"),
    ],
    ids=["delivered", "forward", "late-report-ignored", "failed-reason", "blacklist-final"],
)
def test_statuses_from_delivery_reports(make_app: Any, at_server: FakeAfricasTalking,
                                        reports: list[str], status: str,
                                        reason: str | None) -> None:
    app = at_app(make_app, at_server)
    coop_id = populate(app, 3)
    broadcast_id = broadcast_to(app, coop_id)
    row = rows_of(app, broadcast_id)[phone(2)]
    with app.app_context(), get_db(app).session() as session:
        for report in reports:
            word, _, failure = report.partition(":")
            form = {"id": row.provider_message_id, "status": word, "phoneNumber": phone(2)}
            if failure:
                form["failureReason"] = failure
            apply_status(session, app.config["SETTINGS"], get_redis(app),
                         at.parse_delivery_report(form))
            session.commit()
        progress = broadcasts.progress(session, broadcast_id)
    updated = rows_of(app, broadcast_id)[phone(2)]
    assert (updated.status, updated.failure_reason) == (status, reason)
    assert progress.counts[status] == 1 and progress.counts["sent"] == 2


def test_twilio_status_callback_moves_forward(make_app: Any, tw_server: FakeTwilio) -> None:
    app = tw_app(make_app, tw_server)
    coop_id = populate(app, 2)
    broadcast_id = broadcast_to(app, coop_id)
    row = rows_of(app, broadcast_id)[phone(1)]
    with app.app_context(), get_db(app).session() as session:
        for word in ("delivered", "sent"):
            apply_status(session, app.config["SETTINGS"], get_redis(app),
                         tw.parse_status({"MessageSid": row.provider_message_id,
                                          "MessageStatus": word}))
            session.commit()
    assert rows_of(app, broadcast_id)[phone(1)].status == "delivered"


def test_replies_go_before_a_waiting_broadcast(make_app: Any,
                                               at_server: FakeAfricasTalking) -> None:
    app = at_app(make_app, at_server, batch_size=10)
    coop_id = populate(app, 60)
    with app.app_context():
        with get_db(app).session() as session:
            created = broadcasts.create(session, current_app.config["SETTINGS"],
                                        cooperative_id=coop_id, audience={},
                                        texts={"fr": "Réunion jeudi"}, urgent=False)
            session.commit()
            broadcast_id = created.id
        broadcasts.start(get_db(), get_redis(), broadcast_id)
        from smsgateway.broadcasts.fanout import fan_out

        fan_out(broadcast_id)  # six send jobs wait on the bulk queue
        session: Session = get_db(app).sessionmaker()
        reply = outbox.add(session, to=phone(99), text="Stock: 120 l", kind=MessageKind.REPLY)
        outbox.commit_and_send(session, [reply], get_redis())
        session.close()
    run_burst(app)
    order = [r.form["to"] for r in at_server.requests]
    assert order[0] == phone(99) and len(order) == 7
