"""The Channels page: what each channel of her cooperative is doing, and nobody else's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dashboard_support import login, post
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from smsgateway.db import utcnow
from smsgateway.models import Account, AccountRole, Cooperative, OutboundMessage, OutboundStatus
from smsgateway.models.channels import Channel, ChannelState
from smsgateway.security import hash_password


def _channels(session: Session, demo: Any) -> dict[str, Channel]:
    coop_id = session.scalar(select(Account.cooperative_id).where(
        Account.role == AccountRole.COORDINATOR).limit(1))
    other = Cooperative(slug="autre-ch", name="Coopérative Tiwizi")
    session.add(other)
    session.flush()
    made = {
        "own": Channel(kind="android", name="phone <souss>", cooperative_id=coop_id,
                       settings={}, health={"health": {"battery": 41, "signal": -71},
                                            "event": "system:ping"},
                       last_seen=utcnow() - timedelta(minutes=5), state=ChannelState.DOWN),
        "shared": Channel(kind="smpp", name="smpp-shared", settings={}, health={}),
        "theirs": Channel(kind="android", name="phone-tiwizi-secret", cooperative_id=other.id,
                          settings={}, health={}),
    }
    session.add_all(made.values())
    session.flush()
    own = made["own"]
    for status, sent_at in [(OutboundStatus.QUEUED, None), (OutboundStatus.SENDING, None),
                            (OutboundStatus.DELIVERED, utcnow()),
                            (OutboundStatus.SENT, utcnow()), (OutboundStatus.SENT, utcnow()),
                            # Sent two days ago: not today's volume.
                            (OutboundStatus.SENT, utcnow() - timedelta(days=2))]:
        session.add(OutboundMessage(to_phone="+212600000099", text="x", kind="broadcast",
                                    provider="android", channel_id=own.id, status=status,
                                    sent_at=sent_at))
    session.commit()
    return made


def _row(page: str, channel: Channel) -> str:
    start = page.index(f'id="channel-{channel.id}"')
    return page[start:page.index("</tr>", start)]


def test_her_channels_in_french(signed_in: FlaskClient, session: Session, demo: Any) -> None:
    made = _channels(session, demo)
    response = signed_in.get("/dashboard/channels")
    assert response.status_code == 200 and len(response.get_data()) < 150 * 1024
    page = response.get_data(as_text=True)
    assert "<h1>Canaux d&#39;envoi</h1>" in page and 'href="/dashboard/channels"' in page
    own = _row(page, made["own"])
    # Escaped; the state and the kind in words; battery and signal from its last ping.
    assert "phone &lt;souss&gt;" in own and "<souss>" not in own
    assert "Hors ligne" in own and "Téléphone Android" in own
    assert "Batterie 41 %" in own and "Signal -71" in own
    # Two waiting (queued, sending); three sent today.
    assert 'data-label="En file">2<' in own and 'data-label="Envoyés aujourd&#39;hui">3<' in own
    shared = _row(page, made["shared"])
    assert "Partagé" in shared and "En service" in shared and "Jamais" in shared
    assert "phone-tiwizi-secret" not in page


def test_her_channels_in_arabic(signed_in: FlaskClient, session: Session, demo: Any) -> None:
    made = _channels(session, demo)
    post(signed_in, "/dashboard/language", lang="ar", next="/dashboard")
    page = signed_in.get("/dashboard/channels").get_data(as_text=True)
    assert 'dir="rtl"' in page and "<h1>قنوات الإرسال</h1>" in page
    own = _row(page, made["own"])
    assert "متوقفة" in own and "هاتف أندرويد" in own and "البطارية 41 %" in own
    assert "مشتركة" in _row(page, made["shared"])
    assert "phone-tiwizi-secret" not in page


def test_no_id_or_coop_shows_her_another_cooperatives_channel(
    signed_in: FlaskClient, session: Session, demo: Any
) -> None:
    made = _channels(session, demo)
    theirs = made["theirs"]
    for path in (f"/dashboard/channels?coop={theirs.cooperative_id}",
                 f"/dashboard/channels?channel={theirs.id}",
                 f"/dashboard/channels/{theirs.id}"):
        assert "phone-tiwizi-secret" not in signed_in.get(path).get_data(as_text=True), path
    post(signed_in, "/dashboard/cooperative", coop=str(theirs.cooperative_id),
         next="/dashboard/channels")
    assert "phone-tiwizi-secret" not in signed_in.get(
        "/dashboard/channels").get_data(as_text=True)


def test_an_administrator_sees_every_channel(client: FlaskClient, session: Session,
                                             demo: Any) -> None:
    made = _channels(session, demo)
    session.add(Account(phone="+212633333344", name="Admin", role=AccountRole.ADMINISTRATOR,
                        password_hash=hash_password("admin-password-1")))
    session.commit()
    login(client, "+212633333344", "admin-password-1")
    page = client.get("/dashboard/channels").get_data(as_text=True)
    assert "Coopérative Tiwizi" in _row(page, made["theirs"])
    assert "phone &lt;souss&gt;" in page and "smpp-shared" in page


def test_the_page_needs_a_signed_in_account(client: FlaskClient, demo: Any) -> None:
    response = client.get("/dashboard/channels")
    assert response.status_code == 302 and "/dashboard/login" in response.location
