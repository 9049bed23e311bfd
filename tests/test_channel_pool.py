"""A cooperative's pool of phones: spread by rate, a dead phone's work moves, health watch."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from fakes.smsgate import FakePhone
from smsgateway import broadcasts
from smsgateway.db import get_db, utcnow
from smsgateway.models import Member, OutboundMessage, OutboundStatus, Role
from smsgateway.models.channels import Channel, ChannelState
from smsgateway.redisconn import get_redis
from smsgateway.services import channel_health, routing
from smsgateway.worker import run_burst
from tests.android_support import add_phone_channel
from tests.broadcast_support import app_with, make_coop, phone

MEMBERS = 5000


def test_spread_is_proportional_and_interleaved() -> None:
    slots = routing.spread([600.0, 300.0, 300.0], 1200)
    assert Counter(slots) == {0: 600, 1: 300, 2: 300}
    assert max(len(run) for run in "".join(map(str, slots)).split("1")) <= 3


def test_broadcast_over_three_phones_one_killed_half_way(make_app: Any) -> None:
    app = app_with(make_app)
    with app.app_context(), get_db(app).session() as session:
        coop = make_coop(session, "souss")
        session.execute(Member.__table__.insert(), [
            {"cooperative_id": coop.id, "phone": phone(n), "name": f"M{n}", "language": "fr",
             "role": "member", "active": True, "opted_out": False}
            for n in range(1, MEMBERS + 1)])
        coop_id = coop.id
    phones = [FakePhone(number=f"+21261000000{i}").start() for i in range(3)]
    try:
        with app.app_context(), get_db(app).session() as session:
            channels = [add_phone_channel(app, session, p, f"phone-{i}", cooperative_id=coop_id,
                                          per_minute=600_000)
                        for i, p in enumerate(phones)]
            ids = [c.id for c in channels]
        phones[2].die_after = MEMBERS // 3 // 2  # half of its share, then switched off
        with app.app_context():
            with get_db(app).session() as session:
                created = broadcasts.create(session, current_app.config["SETTINGS"],
                                            cooperative_id=coop_id, audience={},
                                            texts={"fr": "Reunion generale jeudi 10h"},
                                            urgent=False)
                session.commit()
                broadcast_id = created.id
            broadcasts.start(get_db(), get_redis(), broadcast_id)
        for _ in range(10):  # retries scheduled in the future would need another pass
            run_burst(app)
            with app.app_context(), get_db(app).session() as session:
                left = session.scalars(select(OutboundMessage.id).where(
                    OutboundMessage.broadcast_id == broadcast_id,
                    OutboundMessage.status != OutboundStatus.SENT)).all()
            if not left:
                break
        assert not phones[2].alive
        got = Counter()
        for p in phones:
            got.update(p.received)
        assert set(got) == {phone(n) for n in range(1, MEMBERS + 1)}
        assert set(got.values()) == {1}  # every member reached, and only once
        assert 0 < len(phones[2].sent) <= MEMBERS // 3 // 2
        with app.app_context(), get_db(app).session() as session:
            rows = session.scalars(select(OutboundMessage).where(
                OutboundMessage.broadcast_id == broadcast_id)).all()
            assert {r.status for r in rows} == {OutboundStatus.SENT}
            by_channel = Counter(r.channel_id for r in rows)
        assert by_channel[ids[2]] == len(phones[2].sent)
        assert by_channel[ids[0]] + by_channel[ids[1]] == MEMBERS - len(phones[2].sent)
    finally:
        for p in phones:
            p.kill()


def test_silent_phone_is_marked_down_its_work_moves_coordinators_told(
        make_app: Any) -> None:
    app = app_with(make_app)
    with FakePhone() as quiet, FakePhone(number="+212622222222") as other:
        with app.app_context(), get_db(app).session() as session:
            coop = make_coop(session, "souss")
            coordinator = Member(cooperative_id=coop.id, phone="+212600000001", name="Fatima",
                                 language="fr", role=Role.COORDINATOR)
            session.add(coordinator)
            session.commit()
            a = add_phone_channel(app, session, quiet, "phone-a", cooperative_id=coop.id)
            b = add_phone_channel(app, session, other, "phone-b", cooperative_id=coop.id)
            session.get(Channel, a.id).last_seen = utcnow() - timedelta(hours=2)
            session.get(Channel, b.id).last_seen = utcnow()
            waiting = OutboundMessage(to_phone="+212600000099", text="x", kind="broadcast",
                                      provider="android", channel_id=a.id)
            session.add(waiting)
            session.commit()
        quiet.kill()  # its /health does not answer either
        with app.app_context():
            settings = current_app.config["SETTINGS"]
            down = channel_health.watch(settings, get_redis(), get_db())
            again = channel_health.watch(settings, get_redis(), get_db())
        assert down == [a.id] and again == []
        with app.app_context(), get_db(app).session() as session:
            assert session.get(Channel, a.id).state == ChannelState.DOWN
            assert session.get(OutboundMessage, waiting.id).channel_id == b.id
            notice = session.scalars(select(OutboundMessage).where(
                OutboundMessage.to_phone == "+212600000001")).one()
            assert notice.channel_id == b.id and "phone-a" in notice.text
        run_burst(app)
        assert any(to == "+212600000001" for to, _ in other.sent)


def test_a_phone_over_its_daily_cap_gives_the_rest_to_the_pool(make_app: Any) -> None:
    app = app_with(make_app)
    with FakePhone() as capped, FakePhone(number="+212622222222") as other:
        with app.app_context(), get_db(app).session() as session:
            coop = make_coop(session, "souss")
            session.execute(Member.__table__.insert(), [
                {"cooperative_id": coop.id, "phone": phone(n), "name": f"M{n}",
                 "language": "fr", "role": "member", "active": True, "opted_out": False}
                for n in range(1, 41)])
            coop_id = coop.id
        with app.app_context(), get_db(app).session() as session:
            a = add_phone_channel(app, session, capped, "capped", cooperative_id=coop_id)
            add_phone_channel(app, session, other, "other", cooperative_id=coop_id)
            session.get(Channel, a.id).rate_per_day = 5
            session.commit()
        with app.app_context():
            with get_db(app).session() as session:
                created = broadcasts.create(session, current_app.config["SETTINGS"],
                                            cooperative_id=coop_id, audience={},
                                            texts={"fr": "Reunion jeudi"}, urgent=False)
                session.commit()
                broadcast_id = created.id
            broadcasts.start(get_db(), get_redis(), broadcast_id)
        for _ in range(3):
            run_burst(app)
        assert len(capped.sent) == 5
        got = capped.received + other.received
        assert set(got) == {phone(n) for n in range(1, 41)} and set(got.values()) == {1}
