"""A worker killed with SIGKILL mid-broadcast, then restarted: nobody missed, few duplicates.

The bound: a send job claims its batch (``broadcast.batch_size`` rows go ``sending``) but
records each provider round before the next, so only the round in flight at the kill can be
sent twice: one Africa's Talking request (here 10 recipients) or ``broadcast.single_round``
Twilio messages (here 8).
"""

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

from fakes.providers import FakeAfricasTalking, FakeTwilio, Recorded
from smsgateway.db import get_db
from smsgateway.models import OutboundMessage, OutboundStatus
from smsgateway.redisconn import get_redis
from tests.broadcast_support import phone
from tests.test_broadcast_providers import at_app, populate, tw_app

MEMBERS = 300
PAUSE = 0.15


class SlowAfricasTalking(FakeAfricasTalking):
    """Answers after a pause, so that a kill lands while requests are in flight."""

    def answer(self, request: Recorded) -> tuple[int, dict[str, Any]]:
        time.sleep(PAUSE)
        return super().answer(request)


class SlowTwilio(FakeTwilio):
    """Answers after a pause, so that a kill lands while requests are in flight."""

    def answer(self, request: Recorded) -> tuple[int, dict[str, Any]]:
        time.sleep(PAUSE)
        return super().answer(request)


def _worker(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "smsgateway.cli", "worker", *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _recipients(server: Any) -> list[str]:
    if isinstance(server, FakeTwilio):
        return [r.form["To"] for r in server.requests]
    return [n for r in server.requests for n in r.form["to"].split(",")]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("provider", "batch", "round_size"),
    [("africastalking", 10, 10), ("twilio", 20, 8)],
    ids=["africastalking-one-request", "twilio-one-round"],
)
def test_sigkill_mid_broadcast_loses_nobody(make_app: Any, database_url: str, redis_url: str,
                                            tmp_path: Path, provider: str, batch: int,
                                            round_size: int) -> None:
    fake = SlowTwilio() if provider == "twilio" else SlowAfricasTalking()
    with fake as server:
        settings = {"batch_size": batch, "single_round": round_size}
        app = (tw_app if provider == "twilio" else at_app)(make_app, server, **settings)
        coop_id = populate(app, MEMBERS)
        with app.app_context():
            from smsgateway import broadcasts

            with get_db(app).session() as session:
                created = broadcasts.create(session, app.config["SETTINGS"],
                                            cooperative_id=coop_id, audience={},
                                            texts={"fr": "Crue: montez sur les hauteurs"},
                                            urgent=True, provider=provider)
                session.commit()
                broadcast_id = created.id
            broadcasts.start(get_db(), get_redis(), broadcast_id)
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
               "SMSGATEWAY_INSTANCE_PATH": str(tmp_path / "worker"),
               "SMSGATEWAY__QUIET_HOURS__ENABLED": "false",
               "SMSGATEWAY__BROADCAST__BATCH_SIZE": str(batch),
               "SMSGATEWAY__BROADCAST__SINGLE_ROUND": str(round_size),
               "SMSGATEWAY__BROADCAST__RETRY_DELAYS": json.dumps([0]),
               "SMSGATEWAY__BROADCAST__LEASE_SECONDS": "2"}
        if provider == "twilio":
            env.update(TWILIO_ACCOUNT_SID=server.account_sid, TWILIO_AUTH_TOKEN=server.auth_token,
                       TWILIO_BASE_URL=server.base_url, TWILIO_FROM="COOP",
                       SMSGATEWAY__RATE_LIMITS__TWILIO="10000")
        else:
            env.update(AFRICASTALKING_USERNAME=server.username,
                       AFRICASTALKING_API_KEY=server.api_key,
                       AFRICASTALKING_BASE_URL=server.base_url)
        first = _worker(env, "--without-scheduler")
        deadline = time.monotonic() + 60
        while len(_recipients(server)) < 3 * batch and time.monotonic() < deadline:
            time.sleep(0.02)
        # Kill while requests are in the server's hands: answered, never recorded.
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert len(_recipients(server)) >= 3 * batch, "the worker never got going"
        with app.app_context(), get_db(app).session() as session:
            claimed = session.scalar(select(func.count()).where(
                OutboundMessage.broadcast_id == broadcast_id,
                OutboundMessage.status == OutboundStatus.SENDING))
            left = session.scalar(select(func.count()).where(
                OutboundMessage.broadcast_id == broadcast_id,
                OutboundMessage.status == OutboundStatus.QUEUED))
        assert 0 < claimed <= batch and left > 0
        time.sleep(2.2)  # the dead worker's lease has passed: the restarted worker requeues them
        second = _worker(env, "--burst")
        assert second.wait(120) == 0
        received = Counter(_recipients(server))
    assert set(received) == {phone(n) for n in range(1, MEMBERS + 1)}
    duplicates = sum(n - 1 for n in received.values())
    assert duplicates <= round_size
    with app.app_context(), get_db(app).session() as session:
        statuses = dict(session.execute(
            select(OutboundMessage.status, func.count())
            .where(OutboundMessage.broadcast_id == broadcast_id)
            .group_by(OutboundMessage.status)).all())
    assert statuses == {"sent": MEMBERS}
