"""Redis going away and coming back: during USSD sessions, inbound SMS, and a broadcast.

The gateway's Redis here is a redis-server of the test's own behind a TCP proxy; "down" cuts
the proxy (every open connection dropped, new ones refused), "back" restores it with its data.
The machine's redis-server is never touched. Workers are real ``smsgateway worker`` processes.
Runs on both legs (the database is the suite's: SQLite or PostgreSQL).
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from fakes.faults import FaultPlan
from fakes.providers import FakeAfricasTalking
from tests.broadcast_support import phone

from .conftest import report
from .harness import CuttableProxy, RedisProcess, start_worker, stop, wait_until
from .support import (
    add_members,
    all_sent,
    at_app,
    at_worker_env,
    inbound_forms,
    provider_posts,
    start_broadcast,
    statuses,
)

OUTAGE = 3.0
RECOVERY = 60
_ids = itertools.count(1)


@pytest.fixture
def redis_proxy(own_redis: RedisProcess) -> Iterator[CuttableProxy]:
    """A cuttable proxy in front of the test's own redis-server."""
    proxy = CuttableProxy(own_redis.port).start()
    yield proxy
    proxy.cut()


def _url(proxy: CuttableProxy) -> str:
    return f"redis://127.0.0.1:{proxy.port}/0"


def _hop(client: FlaskClient, session_id: str, number: str, text: str) -> tuple[int, str]:
    answer = client.post("/webhooks/africastalking/ussd", data={
        "sessionId": session_id, "serviceCode": "*384*123#", "phoneNumber": number,
        "networkCode": "60400", "text": text})
    return answer.status_code, answer.get_data(as_text=True)


@pytest.mark.slow
def test_ussd_while_redis_is_down(make_app: Any, redis_proxy: CuttableProxy,
                                  measured: dict[str, Any]) -> None:
    """Every hop is answered 200 with a short ``END`` (dial again), never a 500."""
    app = make_app(redis_url=_url(redis_proxy))
    add_members(app, 6)
    client = app.test_client()
    open_sessions = [(f"ATUid_faults_{next(_ids)}", phone(n)) for n in range(1, 4)]
    for session_id, number in open_sessions:
        assert _hop(client, session_id, number, "")[1].startswith("CON ")
    redis_proxy.cut()
    during = [_hop(client, s, n, "1") for s, n in open_sessions]  # a session under way
    during += [_hop(client, f"ATUid_faults_{next(_ids)}", phone(n), "")  # a new dial
               for n in range(4, 7)]
    redis_proxy.restore()
    restored = time.monotonic()
    back = wait_until(lambda: _hop(client, f"ATUid_faults_{next(_ids)}", phone(1), "")[1]
                      .startswith("CON "), RECOVERY, every=0.2)
    statuses_seen = Counter(status for status, _body in during)
    report(measured, hops_during_outage=len(during), answers=dict(statuses_seen),
           ended=sum(body.startswith("END ") for _s, body in during),
           recovered_s=round(time.monotonic() - restored, 1))
    assert statuses_seen == {200: len(during)}, statuses_seen
    for _status, body in during:
        assert body.startswith("END ") and len(body) <= 164, body
    assert back, "USSD did not come back once Redis did"


@pytest.mark.slow
def test_inbound_sms_while_redis_is_down(make_app: Any, database_url: str,
                                         redis_proxy: CuttableProxy, tmp_path: Path,
                                         measured: dict[str, Any]) -> None:
    """Messages taken during the outage are answered once Redis is back, each reply once."""
    count = 10
    with FakeAfricasTalking() as fake:
        app = at_app(make_app, fake, redis_url=_url(redis_proxy))
        add_members(app, count)
        worker = start_worker(at_worker_env(fake, database_url, _url(redis_proxy),
                                            tmp_path / "worker"))
        try:
            client = app.test_client()
            forms = inbound_forms(count)
            redis_proxy.cut()
            refused = provider_posts(client, forms)
            time.sleep(OUTAGE)
            redis_proxy.restore()
            restored = time.monotonic()
            # The provider sends again what was not taken, until it is.
            wait_until(lambda: not provider_posts(
                client, [f for f in forms if f.get("_retry")]), RECOVERY, every=1)
            done = wait_until(lambda: len(fake.accepted) >= count, RECOVERY, every=0.5)
            recovered = time.monotonic() - restored
            time.sleep(1)  # a late duplicate would show here
        finally:
            exited = worker.poll()  # None: the worker lived through the outage
            stop(worker)
        received = fake.received
    duplicates = sum(n - 1 for n in received.values())
    missing = count - len(received)
    report(measured, worker_exit=exited, inbound=count,
           refused_during_outage=len(refused),
           refusals=dict(Counter(refused)), replies_received=sum(received.values()),
           duplicates=duplicates, lost=missing,
           recovered_s=round(recovered, 1) if done else f">{recovered:.0f}")
    assert 500 not in refused
    assert missing == 0, "replies never sent"
    assert duplicates == 0


@pytest.mark.slow
def test_broadcast_while_redis_is_down(make_app: Any, database_url: str,
                                       redis_proxy: CuttableProxy, tmp_path: Path,
                                       measured: dict[str, Any]) -> None:
    """A broadcast resumes once Redis is back; nobody is skipped."""
    members = 2000
    with FakeAfricasTalking() as fake:
        fake.inject(FaultPlan(latency=0.1))
        app = at_app(make_app, fake, redis_url=_url(redis_proxy))
        coop_id = add_members(app, members)
        worker = start_worker(at_worker_env(fake, database_url, _url(redis_proxy),
                                            tmp_path / "worker"))
        try:
            broadcast_id = start_broadcast(app, coop_id)
            wait_until(lambda: len(fake.accepted) >= members // 4, 120)
            redis_proxy.cut()
            time.sleep(OUTAGE)
            at_cut = statuses(app, broadcast_id)
            redis_proxy.restore()
            restored = time.monotonic()
            done = wait_until(lambda: all_sent(app, broadcast_id, members), RECOVERY + 30,
                              every=0.5)
            recovered = time.monotonic() - restored
            after = statuses(app, broadcast_id)
        finally:
            exited = worker.poll()  # None: the worker lived through the outage
            stop(worker)
        received = fake.received
    duplicates = sum(n - 1 for n in received.values())
    missing = members - len(received)
    report(measured, worker_exit=exited, members=members, during_outage=at_cut,
           received=sum(received.values()),
           duplicates=duplicates, lost=missing, statuses=after,
           recovered_s=round(recovered, 1) if done else f">{recovered:.0f}")
    assert done, f"not all sent {recovered:.0f} s after Redis came back: {after}"
    assert missing == 0
    assert duplicates <= 100  # at most the one request in flight when Redis went
