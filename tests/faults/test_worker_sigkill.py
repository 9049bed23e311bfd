"""A worker killed with SIGKILL during a broadcast, a new one started, as a supervisor would.

Nobody is lost; duplicates are no more than the recipients of the requests in flight at the
kill (one Africa's Talking request of 100 for the one worker); the rest is sent within about a
minute with the gateway's own settings (no shortened lease): the rows the dead worker had
claimed must not wait ten minutes. The measured time is printed; the assertion allows half a
minute more than the design's minute, for a loaded two-core machine. Runs on both legs.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from fakes.faults import FaultPlan, ReportPlan
from fakes.providers import FakeAfricasTalking

from .conftest import report
from .harness import GatewayServer, start_worker, stop, wait_for, wait_until
from .support import add_members, all_sent, at_app, at_worker_env, start_broadcast, statuses

MEMBERS = 3000
IN_FLIGHT = 100  # Africa's Talking recipients per request: one request per worker in flight
RECOVERY = 60
#: What a loaded machine may add to it before the test calls it a failure.
SLACK = 30


@pytest.mark.slow
def test_sigkill_during_broadcast(make_app: Any, database_url: str, redis_url: str,
                                  tmp_path: Path, measured: dict[str, Any]) -> None:
    with FakeAfricasTalking() as fake:
        app = at_app(make_app, fake)
        coop_id = add_members(app, MEMBERS)
        # Answers take a while, so that the kill lands while a request is in the fake's hands.
        fake.inject(FaultPlan(latency=0.2))
        env = at_worker_env(fake, database_url, redis_url, tmp_path / "worker")
        with GatewayServer(app) as gateway:
            fake.report_to(ReportPlan(f"{gateway.url}/webhooks/africastalking/delivery"))
            broadcast_id = start_broadcast(app, coop_id)
            first = start_worker(env)
            try:
                wait_for(lambda: len(fake.accepted) >= MEMBERS // 3, 120,
                         "a third of the broadcast sent")
                first.send_signal(signal.SIGKILL)
                first.wait(10)
                killed_at = time.monotonic()
                at_kill = statuses(app, broadcast_id)
                second = start_worker(env)
                try:
                    done = wait_until(lambda: all_sent(app, broadcast_id, MEMBERS),
                                      RECOVERY + SLACK + 30, every=0.5)
                    recovered = time.monotonic() - killed_at
                    after = statuses(app, broadcast_id)
                finally:
                    stop(second)
            finally:
                stop(first)
        received = fake.received
    duplicates = sum(n - 1 for n in received.values())
    missing = MEMBERS - len(received)
    report(measured, members=MEMBERS, at_kill=at_kill, received=sum(received.values()),
           duplicates=duplicates, lost=missing, statuses=after,
           recovered_s=round(recovered, 1) if done else f">{recovered:.0f}")
    assert done, f"not all sent {recovered:.0f} s after the kill: {after}"
    assert missing == 0
    assert duplicates <= IN_FLIGHT
    assert recovered <= RECOVERY + SLACK, f"the rest took {recovered:.0f} s after the kill"
