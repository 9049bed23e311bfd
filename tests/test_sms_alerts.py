"""ALERTE by SMS: a preview with audience and cost, sent only after OUI within 10 minutes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sms_support import (
    AICHA_FR,
    COORDINATOR,
    ITTO_ZGH,
    KHADIJA_AR,
    at_form,
    inbound,
    member,
    replies_to,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fakes.providers import ProviderHarness
from smsgateway.config import Settings
from smsgateway.models import Broadcast, OutboundMessage, Role
from smsgateway.redisconn import get_redis
from smsgateway.sms.alerts import CONFIRM_SECONDS, PENDING_KEY

PATH = "/webhooks/africastalking/sms"


@pytest.fixture
def at(make_app: Any, demo: Any) -> Any:
    """An app with quiet hours off (an urgent alert passes them anyway) and the demo coop."""
    return make_app(quiet_hours={"enabled": False}, console={"echo": False})


def _say(app: Any, session: Session, phone: str, text: str) -> str:
    form = at_form(phone, text)
    response = app.test_client().post(PATH, data=form)
    assert response.status_code == 200
    stored = inbound(session, "africastalking", form["id"])
    assert stored.status == "processed", stored.error
    [reply] = replies_to(session, stored.id)
    return reply.text


def _broadcasts(session: Session) -> list[Broadcast]:
    session.expire_all()
    return list(session.scalars(select(Broadcast)))


def test_alert_is_previewed_then_sent_after_oui(at: Any, session: Session,
                                                run_jobs: Any) -> None:
    # Aicha said STOP: the alert reaches the three others (Fatima included).
    _say(at, session, AICHA_FR, "STOP")
    preview = _say(at, session, COORDINATOR, "ALERTE Crue ce soir, restez chez vous")
    assert preview.startswith("Alerte à 3 membres, 1 SMS chacun, cout estimé 0 MAD")
    assert "OUI dans les 10 min" in preview
    assert _broadcasts(session) == []
    ttl = get_redis(at).ttl(PENDING_KEY.format(member_id=member(session, COORDINATOR).id))
    assert 0 < ttl <= CONFIRM_SECONDS

    sent = _say(at, session, COORDINATOR, "oui")
    [broadcast] = _broadcasts(session)
    assert sent == f"Alerte #{broadcast.id} en cours d'envoi à 3 membres."
    assert broadcast.urgent and broadcast.channel == "sms" and broadcast.recipients == 3
    assert broadcast.created_by_id == member(session, COORDINATOR).id

    with at.app_context():
        run_jobs()
    rows = session.scalars(select(OutboundMessage).where(
        OutboundMessage.broadcast_id == broadcast.id)).all()
    assert sorted(r.to_phone for r in rows) == ["+212600000001", "+212600000002",
                                                "+212600000003"]
    assert {r.text for r in rows} == {"Crue ce soir, restez chez vous"}

    # The confirmation was used up: a second OUI sends nothing more.
    assert _say(at, session, COORDINATOR, "OUI").startswith("Rien à confirmer")
    assert len(_broadcasts(session)) == 1


def test_alert_cancelled_with_non(at: Any, session: Session) -> None:
    _say(at, session, COORDINATOR, "ALERTE Réunion demain")
    assert _say(at, session, COORDINATOR, "NON") == "Alerte annulée."
    assert _say(at, session, COORDINATOR, "OUI").startswith("Rien à confirmer")
    assert _broadcasts(session) == []


def test_an_expired_alert_is_not_sent(at: Any, session: Session) -> None:
    _say(at, session, COORDINATOR, "ALERTE Réunion demain")
    # What ten minutes do to the pending alert: Redis drops the key.
    get_redis(at).delete(PENDING_KEY.format(member_id=member(session, COORDINATOR).id))
    assert _say(at, session, COORDINATOR, "OUI").startswith("Rien à confirmer")
    assert _broadcasts(session) == []


@pytest.mark.parametrize("phone,text,reply", [
    (AICHA_FR, "ALERTE Réunion demain", "Réservé aux coordinateurs."),
    (COORDINATOR, "ALERTE", "Écrivez ALERTE suivi du message"),
    (KHADIJA_AR, "نعم", "لا شيء للتأكيد"),
    (COORDINATOR, "تنبيه اجتماع غدا", "Alerte à 4 membres, 1 SMS chacun"),
    (AICHA_FR, "AVIS Réunion samedi", "Réservé aux coordinateurs."),
    (COORDINATOR, "AVIS", "Écrivez AVIS suivi du message"),
    (COORDINATOR, "إعلان اجتماع السبت", "Alerte à 4 membres, 1 SMS chacun"),
], ids=["member-may-not-alert", "alert-without-text", "yes-with-nothing-pending",
        "alert-keyword-in-arabic", "member-may-not-notice", "notice-without-text",
        "notice-keyword-in-arabic"])
def test_alert_cases(phone: str, text: str, reply: str, at: Any, session: Session) -> None:
    assert _say(at, session, phone, text).startswith(reply)
    assert session.scalar(select(func.count()).select_from(Broadcast)) == 0


def test_arabic_alert_is_priced_as_ucs2(fake_africastalking: ProviderHarness, demo: Any,
                                        session: Session) -> None:
    text = "تنبيه فيضان الليلة، ابقوا في منازلكم " * 3
    preview = _say(fake_africastalking.app, session, COORDINATOR, "ALERTE " + text)
    # 4 members x 2 UCS-2 segments x 0.25 MAD
    assert preview.startswith("Alerte à 4 membres, 2 SMS chacun, cout estimé 2 MAD")


@pytest.mark.parametrize("phone,body,warning", [
    (COORDINATOR, "ALERTE Crue ce soir",
     "Attention : 2 membres lisent l'arabe / le tamazight et recevront votre texte tel quel."),
    (COORDINATOR, "ALERTE فيضان الليلة",
     "Attention : 3 membres lisent le francais / le tamazight et recevront votre texte"),
    (KHADIJA_AR, "تنبيه فيضان الليلة",
     "انتباه: 3 عضوة يقرأن الفرنسية / الأمازيغية وسيتلقين نصك كما كتبته."),
    (KHADIJA_AR, "ALERTE Crue ce soir",
     "انتباه: 2 عضوة يقرأن العربية / الأمازيغية وسيتلقين نصك كما كتبته."),
], ids=["fr-coordinator-french-text", "fr-coordinator-arabic-text",
        "ar-coordinator-arabic-text", "ar-coordinator-french-text"])
def test_the_preview_says_who_reads_another_language(
    phone: str, body: str, warning: str, at: Any, session: Session
) -> None:
    member(session, KHADIJA_AR).role = Role.COORDINATOR
    session.commit()
    preview = _say(at, session, phone, body)
    assert warning in preview
    # Nothing about quiet hours while they are off.
    assert "calmes" not in preview and "الهدوء" not in preview


def test_every_member_reads_the_texts_language_no_warning(at: Any, session: Session) -> None:
    for phone in (KHADIJA_AR, ITTO_ZGH):
        _say(at, session, phone, "STOP")
    preview = _say(at, session, COORDINATOR, "ALERTE Crue ce soir")
    assert preview.startswith("Alerte à 2 membres") and "Attention" not in preview


def _around_now(make_app: Any) -> Any:
    return _quiet_now(make_app)[0]


def _quiet_now(make_app: Any) -> tuple[Any, datetime]:
    # Quiet hours from an hour ago to an hour from now, in the cooperative's time zone; and
    # the moment they end.
    zone = ZoneInfo(Settings().defaults.timezone)
    now = datetime.now(zone)
    start, end = (now - timedelta(hours=1), now + timedelta(hours=1))
    app = make_app(quiet_hours={"enabled": True, "start": start.strftime("%H:%M"),
                                "end": end.strftime("%H:%M")}, console={"echo": False})
    return app, end.replace(second=0, microsecond=0)


@pytest.mark.parametrize("phone,body,note", [
    (COORDINATOR, "ALERTE Crue ce soir",
     "Heures calmes en ce moment : l'alerte est urgente, elle part tout de suite malgré tout."),
    (KHADIJA_AR, "تنبيه فيضان الليلة", "الآن ساعات الهدوء: التنبيه عاجل، سيُرسل فورًا رغم ذلك."),
], ids=["fr-quiet-hours", "ar-quiet-hours"])
def test_the_preview_says_the_urgent_alert_passes_quiet_hours(
    phone: str, body: str, note: str, make_app: Any, demo: Any, session: Session
) -> None:
    app = _around_now(make_app)
    member(session, KHADIJA_AR).role = Role.COORDINATOR
    session.commit()
    assert _say(app, session, phone, body).endswith(note)
    sent = _say(app, session, phone, "OUI" if phone == COORDINATOR else "نعم")
    [broadcast] = _broadcasts(session)
    assert broadcast.urgent and str(broadcast.id) in sent


@pytest.mark.parametrize("phone,body,yes,note,scheduled,zone", [
    (COORDINATOR, "AVIS Réunion samedi 10h", "OUI",
     "Heures calmes: l'alerte partira à {at}. Pour l'envoyer tout de suite: ALERTE suivi du "
     "message.", "Alerte #{id} programmée: elle partira à {at} vers 4 membres.", None),
    (KHADIJA_AR, "إعلان اجتماع السبت", "نعم",
     "ساعات الهدوء: سيُرسل على الساعة {at}. للإرسال فورًا: تنبيه <نص>",
     "التنبيه #{id} مبرمج: سيُرسل على الساعة {at} إلى 4 عضوة.", None),
    # The time she reads is her cooperative's, two hours behind the configured zone.
    (COORDINATOR, "ANNONCE Réunion samedi", "OUI", "l'alerte partira à {at}.",
     "elle partira à {at} vers", "Atlantic/Azores"),
], ids=["fr-notice", "ar-notice", "cooperative-time-zone"])
def test_a_notice_in_quiet_hours_waits_for_their_end_and_says_when(
    phone: str, body: str, yes: str, note: str, scheduled: str, zone: str | None,
    make_app: Any, demo: Any, session: Session, run_jobs: Any
) -> None:
    app, end = _quiet_now(make_app)
    member(session, KHADIJA_AR).role = Role.COORDINATOR
    if zone:
        demo.timezone = zone
    session.commit()
    at = f"{end.astimezone(ZoneInfo(zone)) if zone else end:%H:%M}"
    preview = _say(app, session, phone, body)
    assert note.format(at=at) in preview
    if zone is None:
        assert preview.endswith(note.format(at=at))
    sent = _say(app, session, phone, yes)
    [broadcast] = _broadcasts(session)
    assert scheduled.format(id=broadcast.id, at=at) in sent
    assert not broadcast.urgent and broadcast.status == "scheduled"
    assert broadcast.scheduled_at == end
    with app.app_context():
        run_jobs()
    # Held back: nothing written for a member before quiet hours end.
    assert session.scalar(select(func.count()).select_from(OutboundMessage).where(
        OutboundMessage.broadcast_id == broadcast.id)) == 0


def test_a_notice_outside_quiet_hours_goes_at_once(at: Any, session: Session,
                                                   run_jobs: Any) -> None:
    preview = _say(at, session, COORDINATOR, "AVIS Réunion samedi 10h")
    assert preview.startswith("Alerte à 4 membres") and "calmes" not in preview
    sent = _say(at, session, COORDINATOR, "OUI")
    [broadcast] = _broadcasts(session)
    assert sent == f"Alerte #{broadcast.id} en cours d'envoi à 4 membres."
    assert not broadcast.urgent and broadcast.scheduled_at is None
    with at.app_context():
        run_jobs()
    rows = session.scalars(select(OutboundMessage).where(
        OutboundMessage.broadcast_id == broadcast.id)).all()
    assert {r.text for r in rows} == {"Réunion samedi 10h"} and len(rows) == 4


def test_an_alert_kept_before_notices_existed_stays_urgent(make_app: Any, demo: Any,
                                                           session: Session) -> None:
    """A pending ALERTE stored without "urgent" (before an upgrade) is still sent urgently."""
    import json

    app = _around_now(make_app)
    coordinator = member(session, COORDINATOR)
    get_redis(app).set(PENDING_KEY.format(member_id=coordinator.id), json.dumps(
        {"text": "Crue ce soir", "cooperative_id": coordinator.cooperative_id}), ex=60)
    sent = _say(app, session, COORDINATOR, "OUI")
    [broadcast] = _broadcasts(session)
    assert sent == f"Alerte #{broadcast.id} en cours d'envoi à 4 membres."
    assert broadcast.urgent and broadcast.scheduled_at is None
