"""Shared by the Android (SMSGate) tests: a channel record for a fake phone, posting events."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from fakes.smsgate import Event, FakePhone
from smsgateway.channels.secrets import get_box
from smsgateway.models.channels import Channel


def add_phone_channel(app: Flask, session: Session, phone: FakePhone, name: str, *,
                      cooperative_id: int | None = None, per_minute: int | None = None,
                      per_hour: int | None = None, mode: str | None = None) -> Channel:
    """An Android channel record for ``phone`` (committed)."""
    with app.app_context():
        channel = Channel(kind="android", name=name, cooperative_id=cooperative_id,
                          address=phone.number, health={},
                          settings={"mode": mode or phone.server, "base_url": phone.base_url,
                                    "username": phone.username, "timeout": 2},
                          secrets=get_box(app).seal({"password": phone.password,
                                                     "signing_key": phone.signing_key}),
                          rate_per_minute=per_minute, rate_per_hour=per_hour)
        session.add(channel)
        session.commit()
    return channel


def start_broadcast(app: Flask, coop_id: int, text: str, urgent: bool = False) -> int:
    """Create and start a broadcast to every member of ``coop_id``; its id."""
    from smsgateway import broadcasts
    from smsgateway.db import get_db
    from smsgateway.redisconn import get_redis

    with app.app_context():
        with get_db(app).session() as session:
            created = broadcasts.create(session, app.config["SETTINGS"], cooperative_id=coop_id,
                                        audience={}, texts={"fr": text}, urgent=urgent)
            session.commit()
            broadcast_id = created.id
        broadcasts.start(get_db(), get_redis(), broadcast_id)
    return broadcast_id


def poster(client: FlaskClient, channel_id: int) -> Any:
    """A function posting one phone event to the channel's webhook; returns the response."""

    def post(event: Event) -> Any:
        return client.post(f"/webhooks/android/{channel_id}", data=event.body,
                           headers=event.headers)

    return post
