"""The gateway as the fault tests drive it: an app and worker processes sending through a
fake Africa's Talking, members in bulk, a broadcast, and what became of its messages."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from fakes.providers import FakeAfricasTalking
from smsgateway import broadcasts
from smsgateway.db import get_db
from smsgateway.models import Member, OutboundMessage
from smsgateway.redisconn import get_redis
from tests.broadcast_support import app_with, make_coop, phone

from .harness import worker_env

#: Seconds the gateway waits for the fake's answer to a send request.
TIMEOUT = 1.0


def at_app(make_app: Any, fake: FakeAfricasTalking, grace: int = 1, **overrides: Any
           ) -> Flask:
    """An app sending through ``fake``, with quick retries and no rate limit to speak of."""
    return app_with(make_app,
                    broadcast={"retry_delays": [0], "max_attempts": 5,
                               "unknown_grace_seconds": grace},
                    africastalking={"username": fake.username, "api_key": fake.api_key,
                                    "base_url": fake.base_url, "sender": "COOP",
                                    "timeout": TIMEOUT},
                    rate_limits={"africastalking": 100000}, **overrides)


def at_worker_env(fake: FakeAfricasTalking, database_url: str, redis_url: str, folder: Path,
                  **extra: str) -> dict[str, str]:
    """The environment of a worker process sending through ``fake``, as :func:`at_app`."""
    settings = {"SMSGATEWAY__AFRICASTALKING__TIMEOUT": str(TIMEOUT),
                "SMSGATEWAY__BROADCAST__RETRY_DELAYS": "[1]",
                "SMSGATEWAY__RATE_LIMITS__AFRICASTALKING": "100000", **extra}
    return worker_env(database_url, redis_url, folder, AFRICASTALKING_USERNAME=fake.username,
                      AFRICASTALKING_API_KEY=fake.api_key, AFRICASTALKING_BASE_URL=fake.base_url,
                      AFRICASTALKING_SENDER="COOP", **settings)


def add_members(app: Flask, count: int) -> int:
    """A cooperative of ``count`` members (numbers 1..count); returns its id."""
    with app.app_context(), get_db(app).session() as session:
        coop = make_coop(session, "souss")
        session.execute(Member.__table__.insert(), [
            {"cooperative_id": coop.id, "phone": phone(n), "name": f"M{n}", "language": "fr",
             "role": "member", "active": True, "opted_out": False}
            for n in range(1, count + 1)])
        session.commit()
        return coop.id


def start_broadcast(app: Flask, coop_id: int) -> int:
    """Create an urgent broadcast to every member and start it; returns its id."""
    with app.app_context():
        with get_db(app).session() as session:
            created = broadcasts.create(session, app.config["SETTINGS"], cooperative_id=coop_id,
                                        audience={},
                                        texts={"fr": "Crue: montez sur les hauteurs"},
                                        urgent=True, provider="africastalking")
            session.commit()
            broadcast_id = created.id
        broadcasts.start(get_db(app), get_redis(app), broadcast_id)
    return broadcast_id


def statuses(app: Flask, broadcast_id: int) -> dict[str, int]:
    """Messages of a broadcast per status."""
    with app.app_context(), get_db(app).session() as session:
        return {str(s): n for s, n in session.execute(
            select(OutboundMessage.status, func.count())
            .where(OutboundMessage.broadcast_id == broadcast_id)
            .group_by(OutboundMessage.status))}


def all_sent(app: Flask, broadcast_id: int, members: int) -> bool:
    """Whether every message of the broadcast reached the provider."""
    done = statuses(app, broadcast_id)
    return set(done) <= {"sent", "delivered"} and sum(done.values()) == members


_inbound_ids = itertools.count(1)


def inbound_forms(count: int, start: int = 1) -> list[dict[str, str]]:
    """Africa's Talking inbound SMS (AIDE) from members ``start``.., each with a new id."""
    return [{"from": phone(n), "to": "20880", "text": "AIDE", "date": "2026-12-01 10:00:00",
             "id": f"ATXid_in_faults_{next(_inbound_ids)}", "linkId": "", "networkCode": "60400"}
            for n in range(start, start + count)]


def provider_posts(client: FlaskClient, forms: list[dict[str, str]]) -> list[int]:
    """Post inbound SMS as the provider does; mark those not taken (not 2xx) for a retry.

    Returns the statuses of the refused ones.
    """
    refused = []
    for form in forms:
        status = client.post("/webhooks/africastalking/sms", data=form).status_code
        if status >= 300:
            refused.append(status)
            form["_retry"] = "1"
        else:
            form.pop("_retry", None)
    return refused
