"""A shared phone going silent: the coordinators who rely on it are told, once, on another."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from fakes.smsgate import FakePhone
from menus.catalog import text
from smsgateway.db import get_db
from smsgateway.models import Cooperative, Member, Role
from smsgateway.models.channels import Channel, ChannelState
from smsgateway.redisconn import get_redis
from smsgateway.services import channel_health
from tests.android_support import add_phone_channel, poster

# label, cooperative has a working phone of its own, its coordinator's language, told
COOPS = [
    ("relies on the shared phone, French coordinator", False, "fr", True),
    ("relies on the shared phone, Arabic coordinator", False, "ar", True),
    ("relies on the shared phone, Tamazight coordinator", False, "zgh", True),
    ("has its own phone: not told", True, "fr", False),
]


def _silence(session: Session, channel_id: int, seconds: int) -> None:
    row = session.get(Channel, channel_id)
    row.last_seen = row.created_at - timedelta(seconds=seconds + 1)
    session.commit()


def _watch(app: Flask) -> list[int]:
    with app.app_context():
        return channel_health.watch(app.config["SETTINGS"], get_redis(app), get_db(app))


def test_a_shared_phone_down_tells_the_coordinators_relying_on_it_once(
        app: Flask, client: Any, session: Session, run_jobs: Any) -> None:
    silent_after = app.config["SETTINGS"].channels.silent_after_seconds
    with FakePhone(number="+212611111111") as shared, \
            FakePhone(number="+212622222222") as spare, \
            FakePhone(number="+212633333333") as own_phone:
        down = add_phone_channel(app, session, shared, "shared-phone")
        other = add_phone_channel(app, session, spare, "spare-phone")
        expected: dict[str, str] = {}
        for index, (label, has_own, language, told) in enumerate(COOPS):
            coop = Cooperative(slug=f"coop-{index}", name=label)
            session.add(coop)
            session.flush()
            phone = f"+21266000010{index}"
            session.add(Member(cooperative_id=coop.id, phone=phone, name=f"C{index}",
                               language=language, role=Role.COORDINATOR))
            if has_own:
                add_phone_channel(app, session, own_phone, f"own-{index}",
                                  cooperative_id=coop.id)
            if told:
                expected[phone] = text("channel_down_shared", language,
                                       channel="shared-phone",
                                       minutes=max(1, silent_after // 60))
        session.commit()
        shared.kill()  # switched off: silent, and its /health does not answer
        _silence(session, down.id, silent_after)
        assert _watch(app) == [down.id]
        run_jobs()
        # Told on the other shared phone, in her language; not on the one that is down.
        assert dict(spare.sent) == expected and len(spare.sent) == len(expected)
        assert shared.sent == [] and own_phone.sent == []
        # The next maintenance rounds: still down, nobody told again.
        assert _watch(app) == [] and (run_jobs() or True)
        assert len(spare.sent) == len(expected)
        # Back (its first event), then silent again: a new down event, told again.
        shared.start()
        shared.ping()
        [answer] = shared.flush(poster(client, down.id))
        assert answer.status_code == 200
        session.expire_all()
        assert session.get(Channel, down.id).state == ChannelState.ACTIVE
        shared.kill()
        _silence(session, down.id, silent_after)
        assert _watch(app) == [down.id]
        run_jobs()
        assert len(spare.sent) == 2 * len(expected)
        assert session.get(Channel, other.id).state == ChannelState.ACTIVE


def test_relying_on_names_the_cooperatives_without_a_working_channel(
        app: Flask, session: Session, demo: Any) -> None:
    with FakePhone() as phone:
        shared = add_phone_channel(app, session, phone, "shared-phone")
        own = add_phone_channel(app, session, phone, "demo-phone", cooperative_id=demo.id)
        assert channel_health.relying_on(session, own) == [demo.id]
        assert demo.id not in channel_health.relying_on(session, shared)
        session.get(Channel, own.id).state = ChannelState.DOWN
        session.commit()
        assert demo.id in channel_health.relying_on(session, shared)


def test_a_shared_smpp_link_that_cannot_bind_tells_the_coordinators_relying_on_it(
        app: Flask, session: Session, run_jobs: Any) -> None:
    from fakes.smsc import FakeSmsc
    from tests.smpp_support import config_for, running_link, wait_for

    silent_after = app.config["SETTINGS"].channels.silent_after_seconds
    smsc = FakeSmsc().start()
    try:
        with FakePhone(number="+212622222222") as spare:
            add_phone_channel(app, session, spare, "spare-phone")
            coop = Cooperative(slug="coop-smpp", name="Coopérative Amal")
            session.add(coop)
            session.flush()
            session.add(Member(cooperative_id=coop.id, phone="+212660000200", name="Amal",
                               language="ar", role=Role.COORDINATOR))
            session.commit()
            config = config_for(app, smsc, password="wrong")
            with running_link(app, config):
                wait_for(lambda: _state(app, "iam") == ChannelState.DOWN, what="the link down")
            run_jobs()
            assert spare.sent == [("+212660000200", text(
                "channel_down_shared", "ar", channel="iam", minutes=max(1, silent_after // 60)))]
    finally:
        smsc.stop()


def _state(app: Flask, name: str) -> ChannelState | None:
    from sqlalchemy import select

    with get_db(app).session() as session:
        return session.scalar(select(Channel.state).where(Channel.name == name))
