"""A provider failing 20% of requests during a 10,000-member broadcast: everyone reached.

The fake Africa's Talking meets one request in five with a fault (5xx, 429, a dropped
connection, a timeout after taking the request, a drop after taking it) and posts delivery
reports, some twice, some out of order, a few never: on every message of a request it took
without answering, and on one in ten of the others (reports on those change nothing here and
are tested elsewhere; all 10,000 would queue behind this one test process, whose lag is not
the provider's). Duplicates may only come from requests it took without answering whose
reports never came, or came after the grace window; they are counted and printed with the
rest. One real worker process (``smsgateway worker``) sends. Runs on both legs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from fakes.faults import FaultPlan, ReportPlan
from fakes.providers import FakeAfricasTalking

from .conftest import report
from .harness import GatewayServer, start_worker, stop, wait_for
from .support import TIMEOUT, add_members, all_sent, at_app, at_worker_env, start_broadcast

MEMBERS = 10_000
GRACE = 10


@pytest.mark.slow
def test_flaky_provider_reaches_everyone(make_app: Any, database_url: str, redis_url: str,
                                         tmp_path: Path, measured: dict[str, Any]) -> None:
    with FakeAfricasTalking() as fake:
        app = at_app(make_app, fake, grace=GRACE)
        coop_id = add_members(app, MEMBERS)
        with GatewayServer(app) as gateway:
            reporter = fake.report_to(ReportPlan(
                f"{gateway.url}/webhooks/africastalking/delivery", duplicate=0.05,
                out_of_order=0.05, lost=0.02, delay=0.2, sample=0.1))
            fake.inject(FaultPlan(rate=0.2, hang=TIMEOUT * 2))
            env = at_worker_env(
                fake, database_url, redis_url, tmp_path / "worker",
                SMSGATEWAY__BROADCAST__UNKNOWN_GRACE_SECONDS=str(GRACE),
                SMSGATEWAY__BROADCAST__MAX_ATTEMPTS="10")
            started = time.monotonic()
            broadcast_id = start_broadcast(app, coop_id)
            worker = start_worker(env)
            try:
                wait_for(lambda: all_sent(app, broadcast_id, MEMBERS), 240,
                         "every message sent", every=1)
                elapsed = time.monotonic() - started
            finally:
                stop(worker)
            reporter.drain()
        received = fake.received
        # Reports that came too late are as good as lost: the gateway sent those again.
        unheard = fake.taken_unanswered() & reporter.unreported_within(GRACE)
        faults = dict(fake.faults_met())
        requests_made = len(fake.requests)
    duplicates = sum(n - 1 for n in received.values())
    missing = MEMBERS - len(received)
    report(measured, members=MEMBERS, requests=requests_made, faults=faults,
           received=sum(received.values()), duplicates=duplicates, lost=missing,
           taken_without_answer=len(fake.taken_unanswered()),
           taken_unreported_in_grace=len(unheard),
           all_sent_s=round(elapsed, 1), report_answers=dict(reporter.answers))
    assert missing == 0
    assert faults, "no fault was injected"
    # A duplicate only where the provider took a request, never answered, and did not
    # report within the grace window.
    assert duplicates <= len(unheard)
