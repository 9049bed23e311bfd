"""Inbound SMS end to end through gunicorn: messages per second stored, understood, reply queued.

Starts the real web process (gunicorn, the Procfile's settings) on a fresh instance folder,
seeds the demo cooperative plus ``--members`` members, then posts Africa's Talking inbound
callbacks (a mix of every command, in four languages, with typos) from client processes.
Each 200 means the message is stored, understood, answered and its reply queued on Redis;
the script then checks the database and the queue agree, and prints the rate.

    .venv/bin/python bench/sms.py                      # SQLite + embedded Redis
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/postgres \\
        REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/sms.py

With a server, the benchmark creates (and drops) a database of its own and claims an empty
Redis database index (flushed at the end: everything in it is the benchmark's).
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from _cpu import cpu_seconds  # noqa: E402

TEXTS = [
    "STOCK", "PRIX", "SOLDE", "AIDE", "LIVRAISON ARGAN 5", "livraison amlou ٣", "مخزون",
    "رصيد", "تسليم أركان ٢", "stcok", "prix argan", "awigh argan 2,5", "bonjour", "STOCK amlou",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_database() -> tuple[str, str] | None:
    """With DATABASE_URL (PostgreSQL), a fresh database of its own: (admin URL, bench URL)."""
    import uuid

    import sqlalchemy as sa

    from smsgateway.config import normalize_database_url

    if not os.environ.get("DATABASE_URL"):
        return None
    admin_url = normalize_database_url(os.environ["DATABASE_URL"])
    name = f"smsgateway_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url, sa.make_url(admin_url).set(database=name).render_as_string(
        hide_password=False)


def _drop_database(admin_url: str, url: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{sa.make_url(url).database}" '
                             "WITH (FORCE)"))
    admin.dispose()


CLAIM_KEY = "smsgateway:bench:claim"


def _server_redis() -> tuple[str, object] | None:
    """With REDIS_URL, an empty database index of that server, claimed; flushed at the end."""
    import redis

    url = os.environ.get("REDIS_URL")
    if not url:
        return None
    base = url.rsplit("/", 1)[0] if url.count("/") > 2 else url.rstrip("/")
    for index in range(15, 0, -1):
        client = redis.Redis.from_url(f"{base}/{index}")
        if client.dbsize() == 0 and client.set(CLAIM_KEY, os.getpid(), nx=True):
            return f"{base}/{index}", client
        client.close()
    raise RuntimeError("no empty Redis database index to claim for the benchmark")


def _prepare(instance: str, members: int) -> None:
    """Migrate and seed (demo + ``members`` members without PIN) in this process."""
    from sqlalchemy import insert

    from smsgateway import create_app
    from smsgateway.db import get_db
    from smsgateway.migrate import upgrade
    from smsgateway.models import Member
    from smsgateway.seed import seed_demo
    from smsgateway.services.routing import environment_channel_id

    app = create_app({"instance_path": instance})
    with app.app_context():
        database = get_db()
        upgrade(database)
        with database.session() as session:
            coop = seed_demo(session, app.config["SETTINGS"].defaults.region)
            session.flush()
            rows = [{"cooperative_id": coop.id, "phone": _phone(n), "name": f"M{n}",
                     "language": ("fr", "ar", "zgh", "en")[n % 4]} for n in range(members)]
            session.execute(insert(Member), rows)
        with database.session() as session:
            # The console channel the replies go out on, as the first message would make it:
            # measured is the steady state, and two workers making it at once for their first
            # messages stall each other on SQLite's lock (503s after the 30 s busy timeout).
            environment_channel_id(session, "console", commit_new=True)
        database.engine.dispose()


def _phone(n: int) -> str:
    return f"+2126{10_000_000 + n:08d}"


def _client(args: tuple[int, int, int, int, int]) -> list[float]:
    """Post ``count`` messages on ``threads`` keep-alive connections; return latencies."""
    import threading

    port, start, count, threads, members = args
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []

    def run(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        for i in range(start + offset, start + count, threads):
            body = urllib.parse.urlencode({
                "from": _phone(i % members), "to": "20880", "text": TEXTS[i % len(TEXTS)],
                "date": "2026-11-22 10:00:00", "id": f"ATXid_bench_{i}", "networkCode": "60400",
            })
            began = time.perf_counter()
            conn.request("POST", "/webhooks/africastalking/sms", body,
                         {"Content-Type": "application/x-www-form-urlencoded"})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - began)
            if response.status != 200:
                errors.append(f"{response.status} for message {i}")
        conn.close()
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise RuntimeError(f"{len(errors)} errors, first: {errors[0]}")
    return latencies


def _wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer /healthz")


def _verify(instance: str) -> tuple[int, int, int, int]:
    from sqlalchemy import func, select

    from smsgateway import create_app
    from smsgateway.db import get_db
    from smsgateway.models import InboundMessage, OutboundMessage
    from smsgateway.queues import REPLIES, get_queue

    app = create_app({"instance_path": instance})
    with app.app_context(), get_db().session() as session:
        processed = session.scalar(select(func.count()).select_from(InboundMessage).where(
            InboundMessage.status == "processed"))
        queued = session.scalar(select(func.count()).select_from(OutboundMessage).where(
            OutboundMessage.status == "queued", OutboundMessage.kind == "reply"))
        # One turn job per phone waits in the replies queue (smsgateway.jobs), however many
        # replies that phone has queued.
        phones = session.scalar(select(func.count(func.distinct(OutboundMessage.to_phone)))
                                .where(OutboundMessage.status == "queued",
                                       OutboundMessage.kind == "reply"))
        jobs = get_queue(REPLIES).count
    get_db(app).engine.dispose()
    return processed, queued, jobs, phones


def main() -> int:
    """Run the benchmark and print one report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=8, help="connections per client")
    parser.add_argument("--web-concurrency", default="2", help="gunicorn workers")
    parser.add_argument("--web-threads", default="8", help="threads per gunicorn worker")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-sms-") as instance:
        port = _free_port()
        env = {**os.environ, "SMSGATEWAY_INSTANCE_PATH": instance,
               "SMSGATEWAY__SERVER__PORT": str(port), "WEB_CONCURRENCY": args.web_concurrency,
               "WEB_THREADS": args.web_threads, "GUNICORN_ACCESSLOG": "/dev/null",
               "SMSGATEWAY_CONFIG": str(ROOT / "config.yaml"),
               # Each simulated member texts several times within seconds, often the same
               # command: the per-number limits would hold those back. They still run (one
               # Redis script per message); they just let every message be answered here.
               "SMSGATEWAY__LIMITS__REPLIES_PER_WINDOW": "1000",
               "SMSGATEWAY__LIMITS__LOOP_REPEATS": "1000"}
        env.pop("PORT", None)
        server_db = _server_database()
        if server_db is not None:
            env["DATABASE_URL"] = server_db[1]
        server_redis = _server_redis()
        if server_redis is not None:
            env["REDIS_URL"] = server_redis[0]
        os.environ.update({k: env[k] for k in ("SMSGATEWAY_INSTANCE_PATH", "SMSGATEWAY_CONFIG",
                                               "DATABASE_URL", "REDIS_URL") if k in env})
        _prepare(instance, args.members)
        jobs_before = _verify(instance)[2]
        web = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-c",
             "python:smsgateway.gunicorn_conf", "--log-level", "warning",
             "smsgateway:create_app()"], cwd=ROOT, env=env)
        try:
            _wait_ready(port, web)
            per_client = args.messages // args.clients
            jobs = [(port, c * per_client, per_client, args.threads, args.members)
                    for c in range(args.clients)]
            cpu_before = cpu_seconds(web.pid)
            began = time.perf_counter()
            with multiprocessing.get_context("spawn").Pool(args.clients) as pool:
                latencies = [x for chunk in pool.map(_client, jobs) for x in chunk]
            elapsed = time.perf_counter() - began
            cpu = cpu_seconds(web.pid) - cpu_before
        finally:
            web.send_signal(signal.SIGTERM)
            web.wait(timeout=30)
        total = per_client * args.clients
        processed, queued, jobs_waiting, phones = _verify(instance)
        jobs_waiting -= jobs_before
        if server_db is not None:
            _drop_database(*server_db)
        if server_redis is not None:
            server_redis[1].flushdb()  # type: ignore[attr-defined]  (all of it is ours)
        latencies.sort()
        database = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
        redis = "server" if os.environ.get("REDIS_URL") else "embedded"
        print(f"inbound SMS through gunicorn ({args.web_concurrency} workers x "
              f"{args.web_threads} threads, {database}, Redis {redis}, "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")
        print(f"  {total} messages in {elapsed:.2f} s: {total / elapsed:.0f} messages/s "
              f"end to end (stored, understood, reply queued)")
        print(f"  latency p50 {statistics.median(latencies) * 1000:.1f} ms, "
              f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms")
        print(f"  web processes used {cpu * 1000 / total:.2f} ms of CPU per message "
              f"({total / cpu:.0f} messages per CPU-second)")
        print(f"  check: {processed} processed, {queued} replies queued, "
              f"{jobs_waiting} reply turns waiting for {phones} phones")
        ok = processed == total and queued == total and jobs_waiting == phones
        if not ok:
            print("  MISMATCH: not every message was stored, answered and queued")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
