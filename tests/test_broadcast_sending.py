"""The send job's own rules: rate limits, yielding to replies, quiet hours, leases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask, current_app
from sqlalchemy import select, update

from fakes.providers import FakeAfricasTalking
from smsgateway import broadcasts, outbox
from smsgateway.broadcasts.fanout import fan_out
from smsgateway.db import get_db, utcnow
from smsgateway.models import MessageKind, OutboundMessage, OutboundStatus
from smsgateway.queues import BULK, REPLIES, URGENT, get_queue
from smsgateway.ratelimit import RateLimiter
from smsgateway.redisconn import get_redis
from smsgateway.sending import send_messages
from smsgateway.sweep import sweep
from smsgateway.worker import run_burst
from tests.broadcast_support import phone
from tests.test_broadcast_providers import at_app, at_server, populate, rows_of  # noqa: F401


def _fanned_out(app: Flask, coop_id: int, text: str, urgent: bool) -> tuple[int, list[int]]:
    with app.app_context():
        with get_db(app).session() as session:
            created = broadcasts.create(session, current_app.config["SETTINGS"],
                                        cooperative_id=coop_id, audience={},
                                        texts={"fr": text}, urgent=urgent)
            session.commit()
            broadcast_id = created.id
        fan_out(broadcast_id)
        with get_db(app).session() as session:
            ids = list(session.scalars(select(OutboundMessage.id).where(
                OutboundMessage.broadcast_id == broadcast_id).order_by(OutboundMessage.id)))
    return broadcast_id, ids


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([(5, 10.0)], [(True, False)]),
        ([(10, 10.0), (10, 10.0)], [(True, False), (True, True)]),
        ([(10, 0.5), (10, 0.5)], [(True, False), (False, True)]),
        ([(30, 10.0)], [(True, True)]),
    ],
    ids=["within-burst", "second-waits", "too-long-not-reserved", "bigger-than-burst-waits"],
)
def test_rate_limiter_reserves_segments(app: Flask, steps: list[tuple[int, float]],
                                        expected: list[tuple[bool, bool]]) -> None:
    limiter = RateLimiter(get_redis(app))
    got = []
    for segments, max_wait in steps:
        reserved, wait = limiter.reserve("twilio", "COOP", segments, rate=10, max_wait=max_wait)
        got.append((reserved, wait > 0.5))
    assert got == expected
    # Another sender has a bucket of its own.
    assert limiter.reserve("twilio", "OTHER", 10, rate=10, max_wait=0) == (True, 0.0)


def test_a_throttled_job_hands_its_messages_back(make_app: Any,
                                                 at_server: FakeAfricasTalking) -> None:  # noqa: F811
    app = make_app(
        quiet_hours={"enabled": False}, rate_limits={"africastalking": 1},
        africastalking={"username": at_server.username, "api_key": at_server.api_key,
                        "base_url": at_server.base_url})
    coop_id = populate(app, 5)
    broadcast_id, ids = _fanned_out(app, coop_id, "Crue", urgent=True)
    with app.app_context():
        # 5 segments at 1 per second: about 4 s to wait, more than a job may sleep.
        assert send_messages(ids)["throttled"] == 5
        assert get_queue(URGENT).scheduled_job_registry.count == 1
        waiting = get_queue(URGENT).count  # the fan-out's job, which found nothing to claim
        # Waiting legitimately (its job is scheduled): the sweep leaves it alone, however late.
        later = utcnow() + timedelta(hours=1)
        assert sweep(app.config["SETTINGS"], get_redis(), get_db(), now=later) == {
            "reclaimed": 0, "requeued": 0}
        assert get_queue(URGENT).scheduled_job_registry.count == 1
        assert get_queue(URGENT).count == waiting
    assert at_server.requests == []
    assert {r.status for r in rows_of(app, broadcast_id).values()} == {"queued"}


def test_a_bulk_job_yields_to_waiting_replies(make_app: Any,
                                              at_server: FakeAfricasTalking) -> None:  # noqa: F811
    app = at_app(make_app, at_server)
    coop_id = populate(app, 6)
    # {name} makes every text different: one request per recipient, six rounds.
    broadcast_id, ids = _fanned_out(app, coop_id, "Bonjour {name}", urgent=False)
    with app.app_context():
        get_queue(BULK).empty()
        session = get_db().sessionmaker()
        reply = outbox.add(session, to=phone(99), text="Stock: 12 l", kind=MessageKind.REPLY)
        outbox.commit_and_send(session, [reply], get_redis())
        session.close()
        counts = send_messages(ids)
        assert counts["yielded"] == 5 and counts["sent"] == 1
        assert get_queue(BULK).count == 1 and get_queue(REPLIES).count == 1
    run_burst(app)
    order = [r.form["to"] for r in at_server.requests]
    assert order[1] == phone(99) and len(order) == 7
    assert {r.status for r in rows_of(app, broadcast_id).values()} == {"sent"}


def test_routine_messages_wait_out_quiet_hours_urgent_ones_do_not(
        make_app: Any, at_server: FakeAfricasTalking) -> None:  # noqa: F811
    app = at_app(make_app, at_server)
    coop_id = populate(app, 3)
    routine_id, routine = _fanned_out(app, coop_id, "Réunion", urgent=False)
    urgent_id, urgent = _fanned_out(app, coop_id, "Crue", urgent=True)
    local = datetime.now(UTC).astimezone(ZoneInfo("Africa/Casablanca"))
    night = make_app(quiet_hours={"enabled": True,
                                  "start": (local - timedelta(hours=1)).strftime("%H:%M"),
                                  "end": (local + timedelta(hours=2)).strftime("%H:%M")},
                     africastalking={"username": at_server.username,
                                     "api_key": at_server.api_key,
                                     "base_url": at_server.base_url})
    with night.app_context():
        assert send_messages(routine)["deferred"] == 3
        assert send_messages(urgent)["sent"] == 3
        assert get_queue(BULK).scheduled_job_registry.count == 1
    assert {r.status for r in rows_of(app, routine_id).values()} == {"queued"}
    assert {r.status for r in rows_of(app, urgent_id).values()} == {"sent"}


def test_sweep_requeues_only_rows_whose_lease_passed(make_app: Any,
                                                     at_server: FakeAfricasTalking) -> None:  # noqa: F811
    app = at_app(make_app, at_server)
    coop_id = populate(app, 4)
    broadcast_id, ids = _fanned_out(app, coop_id, "Crue", urgent=True)
    with app.app_context():
        get_queue(URGENT).empty()
        settings, redis, db = app.config["SETTINGS"], get_redis(), get_db()
        with db.session() as session:
            # Three claimed by a worker that died (lease passed), one by a live one.
            session.execute(update(OutboundMessage).where(OutboundMessage.id.in_(ids[:3]))
                            .values(status=OutboundStatus.SENDING,
                                    lease_until=utcnow() - timedelta(seconds=1)))
            session.execute(update(OutboundMessage).where(OutboundMessage.id == ids[3])
                            .values(status=OutboundStatus.SENDING,
                                    lease_until=utcnow() + timedelta(seconds=30)))
            session.commit()
        assert sweep(settings, redis, db)["reclaimed"] == 3
        assert sweep(settings, redis, db)["reclaimed"] == 0
    run_burst(app)
    statuses = {r.to_phone: r.status for r in rows_of(app, broadcast_id).values()}
    assert sorted(statuses.values()) == ["sending", "sent", "sent", "sent"]
