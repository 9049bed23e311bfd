"""The Alerts page: compose, confirm, send through the console provider, follow, cancel."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dashboard_support import login, post, token
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from menus import encoding
from smsgateway.models import (
    AuditLog,
    Broadcast,
    BroadcastStatus,
    Channel,
    Cooperative,
    Group,
    OutboundMessage,
    OutboundStatus,
)
from smsgateway.services import alerts
from smsgateway.services.members import add_member

FRENCH = "Réunion demain à 9h à la coopérative."
ARABIC = "اجتماع غدا على الساعة التاسعة في التعاونية."


def _form(**extra: Any) -> dict[str, Any]:
    return {"text_fr": FRENCH, "text_ar": ARABIC, "mode": "urgent", "expires_hours": "24",
            **extra}


def _send(client: FlaskClient, **extra: Any) -> Any:
    form = {**_form(**extra), "csrf_token": token(client, "/dashboard/alerts/new")}
    return client.post("/dashboard/alerts/send", data=form)


def test_the_compose_form_carries_the_servers_encoding_tables(signed_in: FlaskClient) -> None:
    page = signed_in.get("/dashboard/alerts/new").get_data(as_text=True)
    raw = re.search(r'<script type="application/json" id="gsm-tables">(.*?)</script>', page,
                    re.S)
    assert raw
    tables = json.loads(raw.group(1))
    assert set(tables["basic"]) == encoding.GSM7_BASIC
    assert set(tables["extension"]) == encoding.GSM7_EXTENSION
    assert tables["folds"] == encoding.FOLDS and tables["multi_ucs2"] == encoding.MULTI_UCS2
    assert 'name="text_ar"' in page and 'dir="rtl"' in page and "Tamazight" in page


def test_the_audience_is_counted_by_language(signed_in: FlaskClient) -> None:
    everyone = signed_in.get("/dashboard/alerts/audience").get_json()
    assert everyone == {"recipients": 4, "by_language": {"fr": 2, "ar": 1, "zgh": 1}}
    tafraout = signed_in.get("/dashboard/alerts/audience?group=Tafraout").get_json()
    assert tafraout["recipients"] == 2
    coordinators = signed_in.get("/dashboard/alerts/audience?role=coordinator").get_json()
    assert coordinators["by_language"] == {"fr": 1}


def test_the_confirmation_repeats_count_and_cost_per_language(
    make_app: Any, demo: Any
) -> None:
    client = make_app(prices={"console": "0.25"}).test_client()
    login(client)
    form = {**_form(), "csrf_token": token(client, "/dashboard/alerts/new")}
    page = client.post("/dashboard/alerts/preview", data=form).get_data(as_text=True)
    # fr: 2 members and zgh (no text) gets the cooperative's French; ar: 1 member in UCS-2.
    assert 'id="plan-fr" data-segments="1" data-encoding="GSM-7"' in page
    assert 'id="plan-ar" data-segments="1" data-encoding="UCS-2"' in page
    assert "Français : 3 membres, GSM-7, 1 SMS chacun, 0,75 MAD" in page
    assert "Arabe : 1 membres, UCS-2, 1 SMS chacun, 0,25 MAD" in page
    assert "Envoyer à 4 membres (1 MAD)" in page


def test_a_draft_with_no_text_or_no_recipient_is_sent_back_with_the_reason(
    signed_in: FlaskClient,
) -> None:
    csrf = token(signed_in, "/dashboard/alerts/new")
    empty = signed_in.post("/dashboard/alerts/preview", data={"csrf_token": csrf, "text_fr": " "})
    assert empty.status_code == 400 and "au moins une langue" in empty.get_data(as_text=True)
    nobody = signed_in.post("/dashboard/alerts/preview", data={
        "csrf_token": csrf, "text_fr": "x", "language": "en"})
    assert nobody.status_code == 400
    assert "Aucun membre ne correspond" in nobody.get_data(as_text=True)


def test_she_sends_it_and_follows_it_to_the_end(
    signed_in: FlaskClient, session: Session, run_jobs: Any
) -> None:
    response = _send(signed_in)
    assert response.status_code == 302
    broadcast = session.scalars(select(Broadcast)).one()
    assert response.location.endswith(f"/dashboard/alerts/{broadcast.id}")
    assert broadcast.channel == "web" and broadcast.urgent
    page = signed_in.get(response.location).get_data(as_text=True)
    assert f"Alerte n°{broadcast.id} lancée vers 4 membres." in page
    run_jobs()
    progress = signed_in.get(f"/dashboard/alerts/{broadcast.id}/progress").get_json()
    assert progress["delivered"] == 4 and progress["waiting"] == 0
    assert progress["finished"] and progress["status_words"] == "terminée"
    texts = {m.to_phone: m.text for m in session.scalars(select(OutboundMessage))}
    assert texts["+212600000002"] == ARABIC and texts["+212600000003"] == FRENCH
    listing = signed_in.get("/dashboard/alerts").get_data(as_text=True)
    assert f'id="alert-{broadcast.id}"' in listing and "100 %" in listing


def test_quiet_hours_hold_it_and_the_page_says_until_when(make_app: Any, demo: Any) -> None:
    zone = ZoneInfo("Africa/Casablanca")
    now = datetime.now(zone)
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=1))
    client = make_app(quiet_hours={"start": start, "end": end.strftime("%H:%M")}).test_client()
    login(client)
    form = {**_form(mode="now"), "csrf_token": token(client, "/dashboard/alerts/new")}
    page = client.post("/dashboard/alerts/preview", data=form).get_data(as_text=True)
    assert "Heures calmes : l&#39;alerte attend le matin." in page
    assert end.strftime("%H:%M") in page


def test_cancel_asks_once_more_then_drops_what_has_not_gone(
    signed_in: FlaskClient, session: Session
) -> None:
    later = (datetime.now(ZoneInfo("Africa/Casablanca")) + timedelta(days=1))
    assert _send(signed_in, mode="later", at=later.strftime("%Y-%m-%dT10:00")).status_code == 302
    broadcast = session.scalars(select(Broadcast)).one()
    assert broadcast.status == BroadcastStatus.SCHEDULED
    page = post(signed_in, f"/dashboard/alerts/{broadcast.id}/cancel")
    assert f"Annuler l&#39;alerte n°{broadcast.id} ?" in page
    session.expire_all()
    assert session.get(Broadcast, broadcast.id).status == BroadcastStatus.SCHEDULED
    page = post(signed_in, f"/dashboard/alerts/{broadcast.id}/cancel", confirmed="1")
    assert f"Alerte n°{broadcast.id} annulée" in page
    session.expire_all()
    assert session.get(Broadcast, broadcast.id).status == BroadcastStatus.CANCELLED
    assert session.scalar(select(AuditLog).where(AuditLog.action == "broadcast.cancel"))
    again = post(signed_in, f"/dashboard/alerts/{broadcast.id}/cancel", confirmed="1")
    assert "est déjà terminée" in again


def test_cancel_drops_queued_messages_and_keeps_sent_ones(
    app: Flask, session: Session, demo: Any
) -> None:
    with app.test_request_context():
        coordinator = demo.members[0]
        outcome = alerts.start_alert(session, coordinator, {"fr": "Test"}, urgent=True,
                                     channel=Channel.WEB, settings=app.config["SETTINGS"],
                                     redis=None)  # type: ignore[arg-type]
    broadcast = outcome.subject
    for n, status in enumerate((OutboundStatus.QUEUED, OutboundStatus.QUEUED,
                                OutboundStatus.DELIVERED)):
        session.add(OutboundMessage(to_phone=f"+21260000009{n}", text="Test", kind="broadcast",
                                    provider="console", status=status,
                                    broadcast_id=broadcast.id))
    session.commit()
    result = alerts.cancel_alert(session, broadcast.id, channel="cli", actor_label="cli")
    session.commit()
    assert result.ok and result.params["dropped"] == 2
    statuses = sorted(str(m.status) for m in session.scalars(select(OutboundMessage)))
    assert statuses == ["delivered", "expired", "expired"]
    assert alerts.cancel_alert(session, broadcast.id, channel="cli").error == "already_finished"


@pytest.fixture
def other_alert(app: Flask, session: Session, demo: Any) -> Broadcast:
    other = Cooperative(slug="autre", name="Autre coopérative")
    session.add(other)
    session.flush()
    session.add(Group(cooperative=other, name="Secret"))
    boss = add_member(session, other, "+212611111111", name="Other boss", role="coordinator",
                      groups=["Secret"], region="MA")
    add_member(session, other, "+212611111112", name="Other member", region="MA")
    later = datetime.now(ZoneInfo("UTC")) + timedelta(days=1)
    with app.test_request_context():
        outcome = alerts.start_alert(session, boss, {"fr": "secret <b>"}, urgent=False,
                                     channel=Channel.WEB, settings=app.config["SETTINGS"],
                                     redis=None, scheduled_at=later)  # type: ignore[arg-type]
    session.commit()
    return outcome.subject


def test_another_cooperatives_alert_cannot_be_seen_or_cancelled(
    signed_in: FlaskClient, session: Session, other_alert: Broadcast
) -> None:
    bid = other_alert.id
    assert signed_in.get(f"/dashboard/alerts/{bid}").status_code == 404
    assert signed_in.get(f"/dashboard/alerts/{bid}/progress").status_code == 404
    csrf = token(signed_in, "/dashboard/alerts")
    response = signed_in.post(f"/dashboard/alerts/{bid}/cancel",
                              data={"csrf_token": csrf, "confirmed": "1"})
    assert response.status_code == 404
    session.expire_all()
    assert session.get(Broadcast, bid).status == BroadcastStatus.SCHEDULED
    assert f'id="alert-{bid}"' not in signed_in.get("/dashboard/alerts").get_data(as_text=True)
    # Her audience never reaches the other cooperative, whatever group name she posts.
    assert signed_in.get("/dashboard/alerts/audience?group=Secret").get_json()["recipients"] == 4
    _send(signed_in, group="Secret")
    mine = session.scalars(select(Broadcast).where(Broadcast.id != bid)).one()
    assert mine.audience["cooperatives"] == [signed_in_coop(session)]
    assert mine.recipients == 4


def signed_in_coop(session: Session) -> int:
    return session.scalar(select(Cooperative.id).where(Cooperative.slug == "demo"))


@pytest.mark.parametrize("path", ["/dashboard/alerts/preview", "/dashboard/alerts/send",
                                  "/dashboard/alerts/edit", "/dashboard/alerts/1/cancel"])
def test_alert_forms_need_their_csrf_token(signed_in: FlaskClient, path: str) -> None:
    assert signed_in.post(path, data=_form()).status_code == 400


def test_hostile_text_is_shown_as_text(signed_in: FlaskClient, session: Session) -> None:
    _send(signed_in, text_fr="<script>alert(1)</script>" + "x" * 600)
    broadcast = session.scalars(select(Broadcast)).one()
    page = signed_in.get(f"/dashboard/alerts/{broadcast.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_alert_pages_need_a_signed_in_coordinator(client: FlaskClient, demo: Any) -> None:
    for path in ("/dashboard/alerts", "/dashboard/alerts/new", "/dashboard/alerts/audience",
                 "/dashboard/alerts/1", "/dashboard/alerts/1/progress"):
        assert client.get(path).status_code == 302, path
