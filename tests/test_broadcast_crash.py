"""A worker killed with SIGKILL mid-broadcast, then restarted: nobody missed, few duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from fakes.providers import FakeAfricasTalking, Recorded
from smsgateway.db import get_db
from smsgateway.models import OutboundMessage, OutboundStatus
from tests.broadcast_support import phone
from tests.test_broadcast_providers import at_app, populate

BATCH = 10
MEMBERS = 300


class SlowAfricasTalking(FakeAfricasTalking):
    """Answers after a pause, so that a kill lands while requests are in flight."""

    def answer(self, request: Recorded) -> tuple[int, dict[str, Any]]:
        time.sleep(0.15)
        return super().answer(request)


def _worker(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "smsgateway.cli", "worker", *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.slow
def test_sigkill_mid_broadcast_loses_nobody(make_app: Any, database_url: str, redis_url: str,
                                            tmp_path: Path) -> None:
    with SlowAfricasTalking() as server:
        app = at_app(make_app, server, batch_size=BATCH)
        coop_id = populate(app, MEMBERS)
        with app.app_context():
            from smsgateway import broadcasts

            with get_db(app).session() as session:
                created = broadcasts.create(session, cooperative_id=coop_id, audience={},
                                            texts={"fr": "Crue: montez sur les hauteurs"},
                                            urgent=True)
                session.commit()
                broadcast_id = created.id
            broadcasts.start(broadcast_id)
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
               "SMSGATEWAY_INSTANCE_PATH": str(tmp_path / "worker"),
               "AFRICASTALKING_USERNAME": server.username,
               "AFRICASTALKING_API_KEY": server.api_key,
               "AFRICASTALKING_BASE_URL": server.base_url,
               "SMSGATEWAY__QUIET_HOURS__ENABLED": "false",
               "SMSGATEWAY__BROADCAST__BATCH_SIZE": str(BATCH),
               "SMSGATEWAY__BROADCAST__RETRY_DELAYS": json.dumps([0]),
               "SMSGATEWAY__BROADCAST__STUCK_AFTER_SECONDS": "1"}
        first = _worker(env, "--without-scheduler")
        deadline = time.monotonic() + 60
        while len(server.requests) < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        # Kill while a request is in the server's hands: it will be answered, never recorded.
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert len(server.requests) >= 6, "the worker never got going"
        with app.app_context(), get_db(app).session() as session:
            in_flight = session.scalar(select(func.count()).where(
                OutboundMessage.broadcast_id == broadcast_id,
                OutboundMessage.status == OutboundStatus.SENDING))
            left = session.scalar(select(func.count()).where(
                OutboundMessage.broadcast_id == broadcast_id,
                OutboundMessage.status == OutboundStatus.QUEUED))
        # The killed job had claimed one batch: the only rows that can be sent twice.
        assert 0 < in_flight <= BATCH and left > 0
        time.sleep(1.2)  # older than stuck_after_seconds: the restarted worker requeues them
        second = _worker(env, "--burst")
        assert second.wait(120) == 0
        received = Counter(number for r in server.requests for number in r.form["to"].split(","))
    assert set(received) == {phone(n) for n in range(1, MEMBERS + 1)}
    duplicates = sum(n - 1 for n in received.values())
    assert duplicates <= in_flight <= BATCH
    with app.app_context(), get_db(app).session() as session:
        statuses = dict(session.execute(
            select(OutboundMessage.status, func.count())
            .where(OutboundMessage.broadcast_id == broadcast_id)
            .group_by(OutboundMessage.status)).all())
    assert statuses == {"sent": MEMBERS}
