"""The SMPP link process killed with SIGKILL mid-broadcast, then restarted: nobody missed.

The bound: a window slot is held from a ``submit_sm`` until its answer is recorded and its
stream entry acknowledged, so at most the window's worth (here 10) can go twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from fakes.smsc import FakeSmsc
from smsgateway.db import get_db
from smsgateway.models import OutboundMessage
from smsgateway.redisconn import get_redis
from smsgateway.worker import run_burst
from tests.broadcast_support import phone
from tests.smpp_support import PROVIDER, config_for, wait_for
from tests.test_broadcast_providers import populate

MEMBERS = 10_000
WINDOW = 10


def _link(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "smsgateway.cli", "smpp"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _statuses(app: Any, broadcast_id: int) -> dict[str, int]:
    with get_db(app).session() as session:
        return dict(session.execute(
            select(OutboundMessage.status, func.count())
            .where(OutboundMessage.broadcast_id == broadcast_id)
            .group_by(OutboundMessage.status)).all())


@pytest.mark.slow
def test_sigkill_mid_broadcast_over_smpp_loses_nobody(
        make_app: Any, database_url: str, redis_url: str, tmp_path: Path) -> None:
    smsc = FakeSmsc().start()
    smsc.receipts = False
    app = make_app()
    config_for(app, smsc, window=WINDOW, throughput=5000)
    coop_id = populate(app, MEMBERS)
    with app.app_context():
        from smsgateway import broadcasts

        with get_db(app).session() as session:
            created = broadcasts.create(session, app.config["SETTINGS"], cooperative_id=coop_id,
                                        audience={}, texts={"fr": "Crue: montez sur les hauteurs"},
                                        urgent=True, provider=PROVIDER)
            session.commit()
            broadcast_id = created.id
        broadcasts.start(get_db(), get_redis(), broadcast_id)
    run_burst(app)  # fan-out and send jobs: every message handed over to the link
    assert _statuses(app, broadcast_id) == {"sending": MEMBERS}
    # The link reads the channel record, its secrets sealed with this instance's key.
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "SMSGATEWAY_INSTANCE_PATH": app.instance_path}
    first = _link(env)
    try:
        wait_for(lambda: len(smsc.submitted) >= MEMBERS // 2, timeout=300, what="half way")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = len(smsc.submitted)
        assert killed_at < MEMBERS, "the link finished before it could be killed"
        second = _link(env)
        try:
            wait_for(lambda: _statuses(app, broadcast_id) == {"sent": MEMBERS}, timeout=300,
                     what="everyone sent")
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0
    finally:
        if first.poll() is None:
            first.kill()
        smsc.stop()
    received = Counter(s.destination for s in smsc.submitted)
    assert set(received) == {phone(n).lstrip("+") for n in range(1, MEMBERS + 1)}
    duplicates = sum(n - 1 for n in received.values())
    print(f"killed after {killed_at} submits; {duplicates} sent twice (window {WINDOW})")
    assert duplicates <= WINDOW
