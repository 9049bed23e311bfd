"""CPU per webhook request in one process, optionally under cProfile: where a hop's time goes.

Runs the real app (SQLite + embedded Redis in a fresh instance folder, the demo cooperative
plus 2,000 members) through Flask's test client, which goes through the whole WSGI stack
(the body limit, every before/after hook, the blueprint's guards), but not gunicorn's HTTP
parsing or access log. CPU time (``time.process_time``) of this process only: the embedded
Redis is another process. Less noisy than the servers' benchmarks on a shared machine, and
it runs from any checkout (``cd old-checkout && python /path/to/bench/profile_web.py``).

    .venv/bin/python bench/profile_web.py --kind ussd        # the 10-hop walk of bench/ussd.py
    .venv/bin/python bench/profile_web.py --kind sms --profile /tmp/sms.prof

CPU time swings by half on a shared machine; instructions do not. Under valgrind, with
``--callgrind``, only the timed loop is counted (valgrind prints "Collected : N"):

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/dev/null \\
        .venv/bin/python bench/profile_web.py --kind sms --n 300 --callgrind
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WALK = ["", "1", "0", "4", "0", "2", "1", "5", "0", "00"]
TEXTS = ["STOCK", "PRIX", "SOLDE", "AIDE", "LIVRAISON ARGAN 5", "livraison amlou ٣", "مخزون",
         "رصيد", "تسليم أركان ٢", "stcok", "prix argan", "awigh argan 2,5", "bonjour",
         "STOCK amlou"]
MEMBERS = 2000


def _app(root: Path) -> object:
    os.environ.update(SMSGATEWAY_INSTANCE_PATH=tempfile.mkdtemp(prefix="profile-web-"),
                      SMSGATEWAY_CONFIG=str(root / "config.yaml"),
                      SMSGATEWAY__CONSOLE__ECHO="false")
    if (root / "smsgateway" / "sms" / "limits.py").exists():
        # As bench/sms.py: simulated members text often; the limits still run.
        os.environ.update(SMSGATEWAY__LIMITS__REPLIES_PER_WINDOW="1000",
                          SMSGATEWAY__LIMITS__LOOP_REPEATS="1000")
    from smsgateway import create_app
    from smsgateway.db import get_db
    from smsgateway.migrate import upgrade
    from smsgateway.models import Member
    from smsgateway.seed import seed_demo

    app = create_app()
    with app.app_context():
        upgrade(get_db())
        with get_db().session() as session:
            # seed_demo took the region as a second argument from issue 9 on.
            extra = ((app.config["SETTINGS"].defaults.region,)
                     if len(inspect.signature(seed_demo).parameters) > 1 else ())
            coop = seed_demo(session, *extra)
            session.flush()
            session.add_all([Member(cooperative_id=coop.id, phone=f"+2126{10_000_000 + i}",
                                    name=f"M{i}", language=("fr", "ar", "zgh", "en")[i % 4])
                             for i in range(MEMBERS)])
    return app


def _callgrind(state: str) -> None:
    # callgrind_control switches instrumentation of this (valgrind-run) process on or off.
    subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], check=True,
                   capture_output=True)


def main() -> int:
    """Warm up, then time ``--n`` walks (USSD) or messages (SMS)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("ussd", "sms"), default="ussd")
    parser.add_argument("--n", type=int, default=200, help="USSD walks or SMS messages")
    parser.add_argument("--phones", type=int, default=MEMBERS,
                        help="SMS from this many members in turn (fewer: each texts again "
                             "while her reply's turn still waits, as in bench/sms.py)")
    parser.add_argument("--profile", help="write cProfile stats (CPU time) to this file")
    parser.add_argument("--callgrind", action="store_true",
                        help="under valgrind's callgrind: count instructions of the loop only")
    args = parser.parse_args()
    root = Path.cwd()
    sys.path.insert(0, str(root))
    client = _app(root).test_client()  # type: ignore[attr-defined]
    address = {"REMOTE_ADDR": "127.0.0.1"}

    def ussd(i: int) -> int:
        typed: list[str] = []
        sid = f"p-{i}-{time.monotonic_ns()}"
        for step, value in enumerate(WALK):
            if step:
                typed.append(value)
            answer = client.post("/webhooks/africastalking/ussd", environ_base=address, data={
                "sessionId": sid, "serviceCode": "*384*123#", "networkCode": "99999",
                "phoneNumber": f"+2126{10_000_000 + i % 200}", "text": "*".join(typed)})
            assert answer.status_code == 200 and answer.data[:4] in (b"CON ", b"END ")
        return len(WALK)

    def sms(i: int) -> int:
        answer = client.post("/webhooks/africastalking/sms", environ_base=address, data={
            "from": f"+2126{10_000_000 + i % args.phones}", "to": "20880",
            "text": TEXTS[i % len(TEXTS)], "date": "2026-11-22 10:00:00",
            "id": f"ATXid_p_{i}_{time.monotonic_ns()}", "networkCode": "60400"})
        assert answer.status_code == 200, answer.data
        return 1

    run = ussd if args.kind == "ussd" else sms
    for i in range(20):
        run(i)
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    if profiler:
        profiler.enable()
    if args.callgrind:
        _callgrind("on")
    began, requests, each = time.process_time(), 0, []
    for i in range(20, 20 + args.n):
        started = time.process_time()
        count = run(i)
        # Per request too: a median is less swayed than the total by another process's burst.
        each.append((time.process_time() - started) / count)
        requests += count
    cpu = time.process_time() - began
    if args.callgrind:
        _callgrind("off")
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    print(f"{args.kind} ({root.name}): {cpu * 1000 / requests:.3f} ms of CPU per request, "
          f"median {statistics.median(each) * 1000:.3f} ms, "
          f"{requests} requests{' (under cProfile)' if profiler else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
