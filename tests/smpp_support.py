"""An SMPP channel on a fake SMSC, its link process running in a thread, and a waiting helper."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import select

from fakes.smsc import FakeSmsc
from handlers.smpp import SmppConfig
from smsgateway import outbox
from smsgateway.channels.secrets import get_box
from smsgateway.db import get_db
from smsgateway.models import MessageKind, OutboundMessage
from smsgateway.models.channels import Channel
from smsgateway.redisconn import get_redis
from smsgateway.smpp.link import Link
from tests.faults import harness

PROVIDER = "smpp"


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """Poll ``condition`` until truthy (a bound on waiting, not a speed assertion)."""
    return harness.wait_for(condition, timeout, what or "the condition", every=0.02)


def add_channel(app: Flask, kind: str, name: str, settings: dict[str, Any],
                secrets: dict[str, str]) -> int:
    """A shared channel record (updated if one has that name); its id."""
    with app.app_context(), get_db(app).session() as session:
        channel = session.scalar(select(Channel).where(Channel.name == name))
        if channel is None:
            channel = Channel(kind=kind, name=name, health={})
            session.add(channel)
        channel.settings, channel.secrets = settings, get_box(app).seal(secrets)
        session.flush()
        return channel.id


def config_for(app: Flask, smsc: FakeSmsc, **settings: Any) -> SmppConfig:
    """The SMPP channel ``iam`` on the fake SMSC (quick keep-alive), as a record."""
    values: dict[str, Any] = dict(host="127.0.0.1", port=smsc.port, system_id=smsc.system_id,
                                  source_addr="COOP", enquire_link_seconds=5,
                                  window=10, throughput=500, service_code="*384*123#")
    values.update(settings)
    password = values.pop("password", smsc.password)
    channel_id = add_channel(app, "smpp", "iam", values, {"password": password})
    return SmppConfig.from_settings("iam", values, password, channel_id=channel_id)


@dataclass
class Running:
    """A link process running in a thread of the test."""

    link: Link
    stop: threading.Event
    thread: threading.Thread

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(20)
        assert not self.thread.is_alive()


@contextmanager
def running_link(app: Flask, config: SmppConfig) -> Iterator[Running]:
    """Run the link of the channel until the block ends."""
    link = Link(config, app.config["SETTINGS"], get_redis(app), get_db(app))
    stop = threading.Event()

    def serve() -> None:
        with app.app_context():
            link.run(stop)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    running = Running(link, stop, thread)
    try:
        yield running
    finally:
        if thread.is_alive():
            running.halt()


def queue_messages(app: Flask, texts: list[tuple[str, str]],
                   kind: MessageKind = MessageKind.ALERT, channel: str = "iam") -> list[int]:
    """Store (to, text) messages for a channel (the SMPP one) and enqueue their send jobs."""
    with app.app_context(), get_db(app).session() as session:
        record = session.scalar(select(Channel).where(Channel.name == channel))
        assert record is not None, f"no channel {channel!r}"
        rows = [outbox.add(session, to=to, text=text, kind=kind, channel=record)
                for to, text in texts]
        outbox.commit_and_send(session, rows, get_redis(app))
        return [row.id for row in rows]


def rows(app: Flask, ids: list[int] | None = None) -> list[OutboundMessage]:
    """Outbound rows (fresh from the database), by id."""
    with get_db(app).session() as session:
        query = select(OutboundMessage).order_by(OutboundMessage.id)
        if ids is not None:
            query = query.where(OutboundMessage.id.in_(ids))
        found = list(session.scalars(query))
        session.expunge_all()
        return found
