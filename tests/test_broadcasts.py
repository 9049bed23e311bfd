"""Broadcasts through the console provider: audience, texts, exactly once, schedule, expiry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask, current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smsgateway import broadcasts
from smsgateway.broadcasts.fanout import fan_out
from smsgateway.broadcasts.schedule import in_quiet_hours, quiet_hours_end
from smsgateway.config import load_settings
from smsgateway.db import get_db, utcnow
from smsgateway.models import (
    Broadcast,
    BroadcastStatus,
    Language,
    Member,
    OutboundMessage,
    OutboundStatus,
)
from smsgateway.queues import BULK, URGENT, get_queue
from smsgateway.redisconn import get_redis
from smsgateway.sweep import sweep
from smsgateway.worker import run_burst
from tests.broadcast_support import add_people, app_with, make_coop, phone, sent_rows

PEOPLE = [
    # number, name, language, role, groups
    (1, "Fatima", "fr", "coordinator", ["Aït Baha"]),
    (2, "Khadija", "ar", "member", ["Aït Baha", "amlou"]),
    (3, "Itto", "zgh", "member", ["Tafraout"]),
    (4, "Aicha", "fr", "member", ["Tafraout", "amlou"]),
    (5, "Said", "en", "member", []),
]


@pytest.fixture
def bapp(make_app: Any) -> Flask:
    return app_with(make_app)


@pytest.fixture
def db(bapp: Flask) -> Iterator[Session]:
    with bapp.app_context():
        session = get_db(bapp).sessionmaker()
        try:
            yield session
        finally:
            session.close()


@pytest.fixture
def coop(db: Session) -> Any:
    coop = make_coop(db, "tifawin", Language.FR, name="Tifawin")
    add_people(db, coop, PEOPLE)
    db.commit()
    return coop


def send(db: Session, coop: Any, texts: dict[str, str], audience: dict[str, Any] | None = None,
         **kwargs: Any) -> Broadcast:
    kwargs.setdefault("urgent", False)
    broadcast = broadcasts.create(db, current_app.config["SETTINGS"],
                                  cooperative_id=coop.id, audience=audience or {},
                                  texts=texts, **kwargs)
    db.commit()
    broadcasts.start(get_db(), get_redis(), broadcast.id)
    return broadcast


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        ({}, [1, 2, 3, 4, 5]),
        ({"groups": ["amlou"]}, [2, 4]),
        ({"groups": ["amlou", "Tafraout"]}, [2, 3, 4]),
        ({"roles": ["coordinator"]}, [1]),
        ({"languages": ["fr"]}, [1, 4]),
        ({"groups": ["Tafraout"], "languages": ["fr"]}, [4]),
        ({"groups": ["nobody"]}, []),
    ],
    ids=["everyone", "one-group", "two-groups-overlap-once", "role", "language",
         "group-and-language", "empty-group"],
)
def test_audience_filters(bapp: Flask, db: Session, coop: Any, audience: dict[str, Any],
                          expected: list[int]) -> None:
    broadcast = send(db, coop, {"fr": "Réunion demain"}, audience)
    run_burst(bapp)
    rows = sent_rows(db, broadcast.id)
    assert [r.to_phone for r in rows] == [phone(n) for n in expected]
    assert all(r.status == OutboundStatus.DELIVERED for r in rows)
    assert broadcasts.plan(db, current_app.config["SETTINGS"],
                           cooperative_ids=[coop.id], texts={"fr": "x"},
                           **audience).recipients == len(expected)


def test_texts_per_language_with_fallback_and_placeholders(
        bapp: Flask, db: Session, coop: Any) -> None:
    broadcast = send(db, coop, {"fr": "Bonjour {name}, {coop} : crue ce soir",
                                "ar": "{name}، فيضان الليلة"})
    run_burst(bapp)
    texts = {r.to_phone: (r.text, r.encoding) for r in sent_rows(db, broadcast.id)}
    assert texts == {
        phone(1): ("Bonjour Fatima, Tifawin : crue ce soir", "GSM-7"),
        phone(2): ("Khadija، فيضان الليلة", "UCS-2"),
        # No Tamazight or English text: the cooperative's language (fr).
        phone(3): ("Bonjour Itto, Tifawin : crue ce soir", "GSM-7"),
        phone(4): ("Bonjour Aicha, Tifawin : crue ce soir", "GSM-7"),
        phone(5): ("Bonjour Said, Tifawin : crue ce soir", "GSM-7"),
    }


def test_opted_out_and_inactive_members_get_nothing_and_one_phone_gets_one_message(
        bapp: Flask, db: Session, coop: Any) -> None:
    other = make_coop(db, "tanalt", Language.AR)
    # Khadija belongs to both cooperatives; Itto said STOP; Aicha left.
    add_people(db, other, [(2, "Khadija", "ar", "member", []), (6, "Hassan", "ar", "member", [])])
    db.execute(Member.__table__.update().where(Member.phone == phone(3)).values(opted_out=True))
    db.execute(Member.__table__.update().where(Member.phone == phone(4)).values(active=False))
    db.commit()
    broadcast = send(db, coop, {"fr": "Alerte", "ar": "تنبيه"},
                     {"cooperatives": [coop.id, other.id]})
    assert broadcast.recipients == 4
    run_burst(bapp)
    rows = sent_rows(db, broadcast.id)
    assert [r.to_phone for r in rows] == [phone(1), phone(2), phone(5), phone(6)]
    progress = broadcasts.progress(db, broadcast.id)
    assert progress.status == "done" and progress.counts == {"delivered": 4}


def test_start_twice_and_fan_out_twice_send_once(bapp: Flask, db: Session, coop: Any) -> None:
    broadcast = send(db, coop, {"fr": "Une fois"})
    broadcasts.start(get_db(), get_redis(), broadcast.id)
    assert get_queue(BULK, bapp).count == 1
    run_burst(bapp)
    with bapp.app_context():
        assert fan_out(broadcast.id) == {"skipped": 1}
        # Even a fan-out whose progress was lost writes no second row.
        bapp.extensions["smsgateway.redis"].client.delete(
            f"smsgateway:broadcast:{broadcast.id}:cursor")
        db.execute(Broadcast.__table__.update().values(status="sending"))
        db.commit()
        assert fan_out(broadcast.id)["written"] == 0
    run_burst(bapp)
    rows = sent_rows(db, broadcast.id)
    assert len(rows) == 5 and {r.attempts for r in rows} == {1}


def test_fan_out_streams_in_chunks_and_batches(make_app: Any) -> None:
    app = app_with(make_app, broadcast={"chunk_size": 10, "batch_size": 7})
    with app.app_context():
        db = get_db(app).sessionmaker()
        coop = make_coop(db, "big")
        add_people(db, coop, [(n, f"M{n}", "fr", "member", []) for n in range(1, 46)])
        db.commit()
        broadcast = send(db, coop, {"fr": "Prix de l'amlou"})
        fan_out(broadcast.id)
        # 45 members in chunks of 10 -> 5 chunks; batches of at most 7 per chunk.
        assert get_queue(BULK, app).count == 1 + 4 * 2 + 1
        run_burst(app)
        assert db.scalar(select(func.count()).where(
            OutboundMessage.broadcast_id == broadcast.id,
            OutboundMessage.status == OutboundStatus.DELIVERED)) == 45
        db.close()


def test_expired_broadcast_sends_nothing(bapp: Flask, db: Session, coop: Any) -> None:
    broadcast = send(db, coop, {"fr": "Trop tard"}, expires_at=utcnow() - timedelta(minutes=1))
    run_burst(bapp)
    db.expire_all()
    assert db.get(Broadcast, broadcast.id).status == BroadcastStatus.EXPIRED
    assert sent_rows(db, broadcast.id) == []


def test_messages_expire_in_the_queue(bapp: Flask, db: Session, coop: Any) -> None:
    broadcast = send(db, coop, {"fr": "Bientôt périmé"})
    with bapp.app_context():
        fan_out(broadcast.id)
    db.execute(Broadcast.__table__.update().values(expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()
    run_burst(bapp)
    rows = sent_rows(db, broadcast.id)
    assert {r.status for r in rows} == {OutboundStatus.EXPIRED} and len(rows) == 5
    # The fan-out job, run again by the worker, finds the broadcast stale too.
    assert broadcasts.progress(db, broadcast.id).status == "expired"


def test_scheduled_broadcast_waits_for_its_time(bapp: Flask, db: Session, coop: Any) -> None:
    later = utcnow() + timedelta(hours=3)
    broadcast = send(db, coop, {"fr": "Demain"}, scheduled_at=later)
    assert broadcast.status == BroadcastStatus.SCHEDULED
    assert broadcast.expires_at == later + timedelta(hours=24)
    assert get_queue(BULK, bapp).count == 0
    assert get_queue(BULK, bapp).scheduled_job_registry.count == 1
    run_burst(bapp)
    assert sent_rows(db, broadcast.id) == []


def _quiet_now(make_app: Any) -> Flask:
    from zoneinfo import ZoneInfo

    local = datetime.now(UTC).astimezone(ZoneInfo("Africa/Casablanca"))
    start = (local - timedelta(hours=1)).strftime("%H:%M")
    end = (local + timedelta(hours=2)).strftime("%H:%M")
    return make_app(console={"echo": False},
                    quiet_hours={"enabled": True, "start": start, "end": end})


@pytest.mark.parametrize(("urgent", "queue", "sent"), [(False, BULK, False), (True, URGENT, True)],
                         ids=["routine-waits", "urgent-passes"])
def test_quiet_hours(make_app: Any, urgent: bool, queue: str, sent: bool) -> None:
    app = _quiet_now(make_app)
    with app.app_context():
        db = get_db(app).sessionmaker()
        coop = make_coop(db, "nuit")
        add_people(db, coop, PEOPLE)
        db.commit()
        broadcast = send(db, coop, {"fr": "Nuit"}, urgent=urgent)
        assert (broadcast.scheduled_at is None) == urgent
        run_burst(app)
        rows = sent_rows(db, broadcast.id)
        assert (len(rows) == 5 and all(r.status == "delivered" for r in rows)) == sent
        db.close()


@pytest.mark.parametrize(
    ("local", "quiet", "resumes"),
    [
        ("2026-06-01 20:59", False, "2026-06-01 20:59"),
        ("2026-06-01 21:00", True, "2026-06-02 07:00"),
        ("2026-06-02 03:30", True, "2026-06-02 07:00"),
        ("2026-06-02 07:00", False, "2026-06-02 07:00"),
    ],
    ids=["before", "start", "night", "end"],
)
def test_quiet_hours_window(local: str, quiet: bool, resumes: str) -> None:
    from zoneinfo import ZoneInfo

    settings = load_settings()
    zone = ZoneInfo("Africa/Casablanca")
    at = datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=zone)
    assert in_quiet_hours(settings, at) == quiet
    end = quiet_hours_end(settings, at).astimezone(zone)
    assert end.strftime("%Y-%m-%d %H:%M") == resumes


@pytest.mark.parametrize(
    ("texts", "fold", "encoding", "segments", "cost", "cost_folded"),
    [
        ({"fr": "Réunion à 10h"}, False, "GSM-7", 1, "1.25", "1.25"),
        ({"fr": "Fête: prévoir des crêpes"}, False, "UCS-2", 1, "1.25", "1.25"),
        ({"fr": "Fête " + "ê" * 80}, False, "UCS-2", 2, "2.50", "1.25"),
        ({"fr": "Fête " + "ê" * 80}, True, "GSM-7", 1, "2.50", "1.25"),
        ({"fr": "Crue", "ar": "فيضان " * 20}, False, "UCS-2", 2, "1.50", "1.50"),
    ],
    ids=["gsm7", "ucs2-short", "fold-halves", "fold-chosen", "arabic-long"],
)
def test_plan_prices_segments_with_and_without_fold(
        make_app: Any, texts: dict[str, str], fold: bool, encoding: str, segments: int,
        cost: str, cost_folded: str) -> None:
    app = app_with(make_app, sms={"provider": "console"}, prices={"console": "0.25"})
    with app.app_context():
        db = get_db(app).sessionmaker()
        coop = make_coop(db, "plan")
        add_people(db, coop, PEOPLE)
        db.commit()
        result = broadcasts.plan(db, current_app.config["SETTINGS"],
                                 cooperative_ids=[coop.id], texts=texts, fold=fold)
        assert (result.recipients, result.encoding, result.segments) == (5, encoding, segments)
        assert result.cost_without_fold == Decimal(cost)
        assert result.cost_with_fold == Decimal(cost_folded)
        assert result.estimated_cost == Decimal(cost_folded if fold else cost)
        db.close()


@pytest.mark.parametrize(
    "texts", [{}, {"fr": "  "}, {"xx": "hello"}], ids=["none", "blank", "unknown-language"])
def test_plan_refuses_bad_texts(db: Session, coop: Any, texts: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        broadcasts.plan(db, current_app.config["SETTINGS"], cooperative_ids=[coop.id], texts=texts)


def test_a_fan_out_killed_between_insert_and_enqueue_resumes(make_app: Any) -> None:
    app = app_with(make_app, broadcast={"chunk_size": 10, "batch_size": 4})
    with app.app_context():
        db = get_db(app).sessionmaker()
        coop = make_coop(db, "resume")
        add_people(db, coop, [(n, f"M{n}", "fr", "member", []) for n in range(1, 31)])
        db.commit()
        broadcast = send(db, coop, {"fr": "Reprise"})
        fan_out(broadcast.id)
        # As if killed after committing chunk two, before enqueueing its send jobs: chunk one
        # was sent, chunk two sits queued with no job, chunk three was never written.
        get_queue(BULK).empty()
        ids = db.scalars(select(Member.id).order_by(Member.id)).all()
        db.execute(OutboundMessage.__table__.update().where(
            OutboundMessage.member_id <= ids[9]).values(status="delivered", attempts=1))
        db.execute(OutboundMessage.__table__.delete().where(
            OutboundMessage.member_id > ids[19]))
        db.execute(Broadcast.__table__.update().values(status="sending"))
        db.commit()
        redis = app.extensions["smsgateway.redis"].client
        redis.set(f"smsgateway:broadcast:{broadcast.id}:cursor", ids[9])
        assert fan_out(broadcast.id) == {"written": 10, "enqueued": 3}
        # Chunk two's rows name jobs that were never pushed: the worker's sweep sends them.
        later = utcnow() + timedelta(minutes=1)
        assert sweep(app.config["SETTINGS"], redis, get_db(app), now=later)["requeued"] == 10
        run_burst(app)
        rows = sent_rows(db, broadcast.id)
        assert len(rows) == 30 and {(r.status, r.attempts) for r in rows} == {("delivered", 1)}
        assert broadcasts.progress(db, broadcast.id).status == "done"
        db.close()


@pytest.mark.parametrize(
    "names",
    [
        ["Fatima", "Aicha"],
        ["Fatima", "خديجة"],
        ["Hélène", "Gaëlle", "Françoise"],
        ["A" * 120, "B"],
        ["Itto 🌸", "Said"],
        ["Œdipe…", "Zoé  Ait"],
    ],
    ids=["ascii", "arabic-name", "foldable-names", "long-name", "emoji-name", "ligature"],
)
@pytest.mark.parametrize("fold", [False, True], ids=["plain", "fold"])
def test_plan_with_names_matches_what_the_fan_out_writes(make_app: Any, names: list[str],
                                                         fold: bool) -> None:
    app = app_with(make_app, sms={"provider": "console"}, prices={"console": "1"})
    with app.app_context():
        db = get_db(app).sessionmaker()
        coop = make_coop(db, "names")
        add_people(db, coop, [(n, name, "fr", "member", []) for n, name in enumerate(names, 1)])
        db.commit()
        texts = {"fr": "Bonjour {name}, l'assemblée générale est jeudi à 10h à la coopérative."}
        preview = broadcasts.plan(db, current_app.config["SETTINGS"],
                                  cooperative_ids=[coop.id], texts=texts, fold=fold)
        broadcast = send(db, coop, texts, fold=fold)
        fan_out(broadcast.id)
        rows = sent_rows(db, broadcast.id)
        assert preview.estimated_cost == sum(r.segments for r in rows)
        assert preview.segments == max(r.segments for r in rows)
        assert preview.encoding == ("UCS-2" if any(r.encoding == "UCS-2" for r in rows)
                                    else "GSM-7")
        db.close()


def test_a_fan_out_whose_worker_died_is_resumed_by_the_next_worker(
        bapp: Flask, db: Session, coop: Any) -> None:
    from smsgateway.broadcasts.fanout import resume_stalled as resume

    broadcast = send(db, coop, {"fr": "Reprise"})
    with bapp.app_context():
        def resume_stalled() -> int:
            return resume(get_redis(), get_db())

        assert resume_stalled() == 0  # its job is waiting in the queue
        # The worker that took the job died before finishing: the job is gone from the queue,
        # the broadcast is half sent, the fan-out lock expired.
        get_queue(BULK).empty()
        db.execute(Broadcast.__table__.update().values(status="sending"))
        db.commit()
        redis = bapp.extensions["smsgateway.redis"].client
        lock = redis.lock(f"smsgateway:broadcast:{broadcast.id}:fanout-lock", timeout=60)
        assert lock.acquire(blocking=False)
        assert resume_stalled() == 0  # a live fan-out holds the lock
        lock.release()
        assert resume_stalled() == 1
    run_burst(bapp)  # the worker's start-up check finds nothing more to resume
    rows = sent_rows(db, broadcast.id)
    assert len(rows) == 5 and {(r.status, r.attempts) for r in rows} == {("delivered", 1)}
    assert broadcasts.progress(db, broadcast.id).status == "done"
    with bapp.app_context():
        assert resume_stalled() == 0


def test_two_broadcasts_sharing_a_queue_both_finish(bapp: Flask, db: Session, coop: Any) -> None:
    first = send(db, coop, {"fr": "Un"})
    second = send(db, coop, {"fr": "Deux"})
    run_burst(bapp)
    assert [broadcasts.progress(db, b.id).status for b in (first, second)] == ["done", "done"]
    assert {r.status for r in sent_rows(db, first.id) + sent_rows(db, second.id)} == {
        OutboundStatus.DELIVERED}
