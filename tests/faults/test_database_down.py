"""The database going away and coming back: during inbound SMS, and during reply and send jobs.

PostgreSQL only: the gateway reaches the suite's database through a TCP proxy the test cuts
(every open connection dropped, new ones refused) and restores; the machine's PostgreSQL is
never stopped. On the SQLite leg this module is not collected (tests/faults/conftest.py):
a file has no network to cut. Workers are real ``smsgateway worker`` processes.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from fakes.faults import FaultPlan
from fakes.providers import FakeAfricasTalking
from smsgateway.db import get_db
from smsgateway.models import InboundMessage, OutboundMessage
from tests.broadcast_support import phone

from .conftest import report
from .harness import CuttableProxy, start_worker, stop, wait_until
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


@pytest.fixture
def db_proxy(database_url: str) -> Iterator[tuple[CuttableProxy, str]]:
    """A cuttable proxy in front of the suite's PostgreSQL, and the database URL through it."""
    url = sa.make_url(database_url)
    proxy = CuttableProxy(url.port or 5432, url.host or "127.0.0.1").start()
    yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(
        hide_password=False)
    proxy.cut()


def _stored_once(app: Any, forms: list[dict[str, str]]) -> Counter[int]:
    """How many inbound rows each message left (1 each is right)."""
    with app.app_context(), get_db(app).session() as session:
        rows = dict(session.execute(
            select(InboundMessage.provider_message_id, func.count())
            .where(InboundMessage.provider_message_id.in_([f["id"] for f in forms]))
            .group_by(InboundMessage.provider_message_id)).all())
    return Counter(rows.get(f["id"], 0) for f in forms)


@pytest.mark.slow
def test_inbound_sms_while_database_is_down(make_app: Any, redis_url: str, tmp_path: Path,
                                            db_proxy: tuple[CuttableProxy, str],
                                            measured: dict[str, Any]) -> None:
    """The provider is told to retry (503, never 500); each message stored once, answered once."""
    proxy, url = db_proxy
    count = 10
    with FakeAfricasTalking() as fake:
        app = at_app(make_app, fake, database_url=url)
        add_members(app, count)
        worker = start_worker(at_worker_env(fake, url, redis_url, tmp_path / "worker"))
        try:
            client = app.test_client()
            forms = inbound_forms(count)
            proxy.cut()
            refused = provider_posts(client, forms)
            time.sleep(OUTAGE)
            proxy.restore()
            restored = time.monotonic()
            wait_until(lambda: not provider_posts(client, [f for f in forms if f.get("_retry")]),
                       RECOVERY, every=1)
            done = wait_until(lambda: len(fake.accepted) >= count, RECOVERY, every=0.5)
            recovered = time.monotonic() - restored
            time.sleep(1)  # a late duplicate would show here
        finally:
            exited = worker.poll()  # None: the worker lived through the outage
            stop(worker)
        received = fake.received
    stored = _stored_once(app, forms)
    duplicates = sum(n - 1 for n in received.values())
    report(measured, worker_exit=exited, inbound=count, refusals=dict(Counter(refused)),
           stored=dict(stored),
           replies_received=sum(received.values()), duplicates=duplicates,
           lost=count - len(received),
           recovered_s=round(recovered, 1) if done else f">{recovered:.0f}")
    assert refused and set(refused) == {503}, refused
    assert stored == {1: count}
    assert len(received) == count and duplicates == 0


@pytest.mark.slow
def test_jobs_while_database_is_down(make_app: Any, redis_url: str, tmp_path: Path,
                                     db_proxy: tuple[CuttableProxy, str],
                                     measured: dict[str, Any]) -> None:
    """Reply and send jobs caught by the outage finish once it is back: nothing stuck."""
    proxy, url = db_proxy
    members, replies = 2000, 10
    with FakeAfricasTalking() as fake:
        fake.inject(FaultPlan(latency=0.1))
        app = at_app(make_app, fake, database_url=url)
        coop_id = add_members(app, members)
        worker = start_worker(at_worker_env(fake, url, redis_url, tmp_path / "worker"))
        try:
            broadcast_id = start_broadcast(app, coop_id)
            wait_until(lambda: len(fake.accepted) >= members // 4, 120)
            forms = inbound_forms(replies)
            assert not provider_posts(app.test_client(), forms)
            proxy.cut()
            time.sleep(OUTAGE)
            proxy.restore()
            restored = time.monotonic()

            def finished() -> bool:
                return all_sent(app, broadcast_id, members) and _pending(app) == 0

            done = wait_until(finished, RECOVERY + 30, every=0.5)
            recovered = time.monotonic() - restored
            after = statuses(app, broadcast_id)
        finally:
            exited = worker.poll()  # None: the worker lived through the outage
            stop(worker)
        received = fake.received
    expected = Counter({phone(n): 1 for n in range(1, members + 1)})
    expected.update(f["from"] for f in forms)  # these also got a reply
    duplicates = sum(max(0, received[p] - n) for p, n in expected.items())
    missing = sum(max(0, n - received[p]) for p, n in expected.items())
    report(measured, worker_exit=exited, members=members, replies=replies,
           received=sum(received.values()),
           duplicates=duplicates, lost=missing, statuses=after, pending=_pending(app),
           recovered_s=round(recovered, 1) if done else f">{recovered:.0f}")
    assert done, f"still pending {recovered:.0f} s after the database came back: {after}"
    assert missing == 0
    assert duplicates <= 100  # at most the one request in flight when the database went


def _pending(app: Any) -> int:
    """Outbound messages not yet handed to the provider (queued, sending, unknown)."""
    with app.app_context(), get_db(app).session() as session:
        return int(session.scalar(select(func.count()).where(
            OutboundMessage.status.in_(("queued", "sending", "unknown")))) or 0)
