"""Nothing queued is lost: Redis down, a job dying on the database, a dead worker, an idle one.

The database is the truth: a row ``queued`` or ``sending`` in it reaches a queue again through
the worker's sweep, whatever happened to Redis or to a job (issue 10). The replies queue is
fair: one phone's backlog does not sit in front of another member's reply.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sms_support import AICHA_FR, KHADIJA_AR, at_form
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fakes.providers import FakeAfricasTalking
from smsgateway import jobs, outbox
from smsgateway.db import utcnow
from smsgateway.models import MessageKind, OutboundMessage, OutboundStatus
from smsgateway.queues import REPLIES, URGENT, get_queue
from smsgateway.redisconn import get_redis
from smsgateway.worker import run_burst

PATH = "/webhooks/africastalking/sms"


@pytest.fixture
def at_server() -> Iterator[FakeAfricasTalking]:
    with FakeAfricasTalking() as server:
        yield server


def _at(server: FakeAfricasTalking) -> dict[str, Any]:
    return {"africastalking": {"username": server.username, "api_key": server.api_key,
                               "base_url": server.base_url, "sender": "COOP"}}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _a_minute_later(session: Session) -> None:
    """As if a minute had passed since every row was written (the sweep spares fresh rows)."""
    ago = utcnow() - timedelta(minutes=1)
    session.execute(update(OutboundMessage).values(created_at=ago, status_at=None))
    session.commit()


def _statuses(session: Session) -> list[str]:
    session.expire_all()
    return sorted(str(s) for s in session.scalars(select(OutboundMessage.status)))


def test_replies_stored_while_redis_is_down_are_sent_once_it_is_back(
        make_app: Any, demo: Any, session: Session, at_server: FakeAfricasTalking) -> None:
    down = make_app(redis_url=f"redis://127.0.0.1:{_free_port()}/0", **_at(at_server))
    client = down.test_client()
    for n in range(4):
        phone = (AICHA_FR, KHADIJA_AR)[n % 2]
        assert client.post(PATH, data=at_form(phone, "STOCK")).status_code == 200
    assert _statuses(session) == ["queued"] * 4
    _a_minute_later(session)

    up = make_app(**_at(at_server))
    run_burst(up)  # a worker starting sweeps at once
    assert sorted(phone for phone, _ in at_server.sent) == sorted([AICHA_FR, KHADIJA_AR] * 2)
    assert _statuses(session) == ["sent"] * 4


def _unreachable(database_url: str) -> str:
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return "sqlite:////nonexistent-directory/gone.sqlite3"
    return url.set(port=_free_port()).render_as_string(hide_password=False)


def test_a_reply_job_that_meets_a_database_error_is_sent_later(
        make_app: Any, demo: Any, session: Session, at_server: FakeAfricasTalking,
        database_url: str) -> None:
    web = make_app(**_at(at_server))
    client = web.test_client()
    for phone in (AICHA_FR, KHADIJA_AR):
        assert client.post(PATH, data=at_form(phone, "PRIX")).status_code == 200
    # The worker's database is unreachable while it runs the reply jobs: they fail.
    broken = make_app(database_url=_unreachable(database_url), **_at(at_server))
    run_burst(broken)
    assert at_server.sent == [] and _statuses(session) == ["queued", "queued"]
    _a_minute_later(session)

    run_burst(web)  # the database is back
    assert sorted(phone for phone, _ in at_server.sent) == sorted([AICHA_FR, KHADIJA_AR])
    assert _statuses(session) == ["sent", "sent"]


def test_rows_of_a_dead_worker_are_requeued_once_their_lease_passed(
        app: Any, demo: Any, session: Session) -> None:
    with app.app_context():
        messages = [outbox.add(session, to=phone, text="Salam", kind=MessageKind.ALERT)
                    for phone in (AICHA_FR, KHADIJA_AR)]
        session.commit()
        # Claimed by a worker that was killed seconds ago, before its lease ran out: one
        # lease has passed (its worker stopped renewing it), the other not yet.
        now = utcnow()
        for message, lease in zip(messages, (-1, 30), strict=True):
            session.execute(update(OutboundMessage).where(OutboundMessage.id == message.id)
                            .values(status=OutboundStatus.SENDING, attempts=1,
                                    status_at=now - timedelta(seconds=20),
                                    lease_until=now + timedelta(seconds=lease)))
        session.commit()
    run_burst(app)
    session.expire_all()
    assert [session.get(OutboundMessage, m.id).status for m in messages] == [
        "delivered", "sending"]


def test_a_retry_whose_job_was_lost_is_enqueued_again(
        app: Any, demo: Any, session: Session) -> None:
    with app.app_context():
        message = outbox.add(session, to=AICHA_FR, text="Salam", kind=MessageKind.ALERT)
        outbox.commit_and_send(session, [message], get_redis())
        # Waiting for a retry (queued, attempted once) while Redis lost every job.
        session.execute(update(OutboundMessage).values(attempts=1))
        session.commit()
        get_queue(URGENT).empty()
    _a_minute_later(session)
    run_burst(app)
    assert _statuses(session) == ["delivered"]


@pytest.mark.parametrize("kind", [MessageKind.ALERT, MessageKind.REPLY], ids=["batch", "turn"])
def test_a_job_taken_off_its_queue_by_a_worker_that_never_started_it_is_enqueued_again(
        app: Any, demo: Any, session: Session, kind: MessageKind) -> None:
    """A worker popped the job (BLPOP) and died, or lost Redis, before marking it started.

    Its hash still says ``queued``, but no list holds it any more: nothing would ever run it.
    """
    with app.app_context():
        message = outbox.add(session, to=AICHA_FR, text="Salam", kind=kind)
        outbox.commit_and_send(session, [message], get_redis())
        redis = get_redis()
        queue = get_queue(URGENT if kind is MessageKind.ALERT else REPLIES)
        popped = redis.lpop(queue.key)
        assert popped is not None and redis.hget(f"rq:job:{popped.decode()}", "status") == b"queued"
    _a_minute_later(session)
    run_burst(app)
    assert _statuses(session) == ["delivered"]


def test_a_queued_job_still_in_its_queue_is_left_alone(app: Any, demo: Any) -> None:
    """The other side: a job waiting in its queue (or RQ's intermediate list) is alive."""
    with app.app_context():
        redis = get_redis()
        queue = get_queue(URGENT)
        waiting = queue.enqueue("smsgateway.sending.send_messages", [1])
        taken = queue.enqueue("smsgateway.sending.send_messages", [2])
        redis.lrem(queue.key, 1, taken.id)
        redis.rpush(queue.intermediate_queue_key, taken.id)
        lost = queue.enqueue("smsgateway.sending.send_messages", [3])
        redis.lrem(queue.key, 1, lost.id)
        assert jobs.alive(redis, [waiting.id, taken.id, lost.id, "no-such-job"]) == {
            waiting.id: True, taken.id: True, lost.id: False, "no-such-job": False}


def test_rows_under_a_job_its_killed_worker_had_just_taken_are_enqueued_again(
        app: Any, demo: Any, session: Session) -> None:
    with app.app_context():
        message = outbox.add(session, to=AICHA_FR, text="Salam", kind=MessageKind.ALERT)
        outbox.commit_and_send(session, [message], get_redis())
        queue = get_queue(URGENT)
        [job] = queue.get_jobs()
        # RQ took the job off the queue and marked it started; SIGKILL came before the claim.
        queue.remove(job)
        started = (utcnow() - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        queue.connection.hset(job.key, mapping={"status": "started", "started_at": started})
    _a_minute_later(session)
    run_burst(app)
    assert _statuses(session) == ["delivered"]


def test_one_flooding_phone_does_not_delay_another_members_reply(
        make_app: Any, demo: Any, session: Session, at_server: FakeAfricasTalking) -> None:
    # The per-number limits (tested in test_edge) would silence the flood at the webhook; with
    # them out of the way, the queue itself must still be fair.
    web = make_app(**_at(at_server), limits={"replies_per_window": 1000, "loop_repeats": 1000})
    client = web.test_client()
    for _ in range(30):
        assert client.post(PATH, data=at_form(AICHA_FR, "STOCK")).status_code == 200
    assert client.post(PATH, data=at_form(KHADIJA_AR, "STOCK")).status_code == 200
    run_burst(web)
    order = [phone for phone, _ in at_server.sent]
    assert len(order) == 31
    # Khadija's reply went out after at most one turn of the flooding phone, not after 30.
    assert order.index(KHADIJA_AR) <= 10


def test_an_idle_worker_sweeps_every_interval(
        make_app: Any, demo: Any, session: Session, at_server: FakeAfricasTalking,
        database_url: str, redis_url: str, tmp_path: Path) -> None:
    web = make_app(**_at(at_server))
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "SMSGATEWAY_INSTANCE_PATH": str(tmp_path / "worker"),
           "AFRICASTALKING_USERNAME": at_server.username,
           "AFRICASTALKING_API_KEY": at_server.api_key,
           "AFRICASTALKING_BASE_URL": at_server.base_url}
    # The real worker loop, with a one-second interval instead of fifteen to keep this short.
    code = ("import smsgateway.worker as w; from smsgateway import create_app; "
            "w.MAINTENANCE_SECONDS = 1; w.make_worker(create_app()).work()")
    worker = subprocess.Popen([sys.executable, "-c", code], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Stored while the worker waits for jobs, and never enqueued (Redis was down).
        with web.app_context():
            outbox.insert_one(session, to=AICHA_FR, text="Salam", kind=MessageKind.REPLY,
                              provider="africastalking")
            session.commit()
        _a_minute_later(session)
        deadline = time.monotonic() + 60
        while not at_server.sent and time.monotonic() < deadline:
            time.sleep(0.1)
        assert at_server.sent == [(AICHA_FR, "Salam")]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
