"""The Channels page: what each channel of her cooperative is doing, and nobody else's."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from android_support import add_phone_channel
from dashboard_support import login, post, token
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from fakes.smsgate import FakePhone
from smsgateway.channels.secrets import get_box
from smsgateway.db import utcnow
from smsgateway.models import (
    Account,
    AccountRole,
    AuditLog,
    Cooperative,
    OutboundMessage,
    OutboundStatus,
    Role,
)
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


# -- managing channels ----------------------------------------------------------------------

def _form(phone: FakePhone, **changes: str) -> dict[str, str]:
    form = {"name": "argan-phone", "address": phone.number, "mode": "local",
            "base_url": phone.base_url, "username": "", "password": phone.password,
            "signing_key": phone.signing_key, "sim": "2", "per_minute": "",
            "per_hour": "600", "per_day": ""}
    form.update(changes)
    return form


def _post(client: FlaskClient, path: str, **form: str) -> Any:
    """Post with the form's token; the response itself (not followed)."""
    form["csrf_token"] = token(client, "/dashboard/channels")
    return client.post(path, data=form)


def _audit(session: Session, channel_id: int) -> list[tuple[str, str]]:
    session.expire_all()
    return [(a.action, a.channel) for a in session.scalars(
        select(AuditLog).where(AuditLog.entity == "channel", AuditLog.entity_id == channel_id)
        .order_by(AuditLog.id))]


def test_she_adds_a_phone_its_secrets_sealed_and_never_shown(
        app: Flask, signed_in: FlaskClient, session: Session, demo: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with FakePhone(password="phone-pass-7731", signing_key="sign-key-5512") as phone:
        page = post(signed_in, "/dashboard/channels/add", **_form(phone))
    assert "Téléphone argan-phone ajouté." in page
    row = session.scalars(select(Channel).where(Channel.name == "argan-phone")).one()
    assert row.cooperative_id == demo.id and row.rate_per_hour == 600
    assert row.settings["sim_number"] == "2" and row.settings["username"] == "sms"
    for secret in (phone.password, phone.signing_key):
        assert secret not in row.secrets and secret not in page and secret not in caplog.text
    with app.app_context():
        assert get_box(app).open(row.secrets) == {"password": phone.password,
                                                  "signing_key": phone.signing_key}
    assert _audit(session, row.id) == [("channel.add", "web")]
    assert 'name="password" type="password" required' in page


def test_test_disable_enable_and_remove_with_its_confirmation(
        app: Flask, signed_in: FlaskClient, session: Session, demo: Any) -> None:
    with FakePhone() as phone:
        phone.battery = 64
        channel = add_phone_channel(app, session, phone, "argan-phone",
                                    cooperative_id=demo.id)
        channel_id = channel.id
        page = post(signed_in, f"/dashboard/channels/{channel.id}/test")
        assert "argan-phone répond. Batterie 64 %, signal ?." in page
        phone.kill()
        page = post(signed_in, f"/dashboard/channels/{channel.id}/test")
    assert "argan-phone ne répond pas : le téléphone est éteint" in page
    assert 'class="flash error"' in page
    page = post(signed_in, f"/dashboard/channels/{channel.id}/disable")
    assert "argan-phone est désactivé" in page and "Désactivé" in _row(page, channel)
    session.expire_all()
    assert session.get(Channel, channel.id).state == ChannelState.DISABLED
    page = post(signed_in, f"/dashboard/channels/{channel.id}/enable")
    session.expire_all()
    assert session.get(Channel, channel.id).state == ChannelState.ACTIVE
    # Remove asks once more; nothing is removed until she confirms.
    page = post(signed_in, f"/dashboard/channels/{channel.id}/remove")
    assert "Supprimer le canal argan-phone ?" in page and 'id="remove-yes"' in page
    session.expire_all()
    assert session.get(Channel, channel.id) is not None
    page = post(signed_in, f"/dashboard/channels/{channel_id}/remove", confirmed="1")
    assert "Canal argan-phone supprimé." in page
    session.expire_all()
    assert session.get(Channel, channel_id) is None
    assert _audit(session, channel_id) == [
        ("channel.test", "web"), ("channel.test", "web"), ("channel.disable", "web"),
        ("channel.enable", "web"), ("channel.remove", "web")]


def test_a_channel_that_carried_messages_is_disabled_not_removed(
        signed_in: FlaskClient, session: Session, demo: Any) -> None:
    own = _channels(session, demo)["own"]
    page = post(signed_in, f"/dashboard/channels/{own.id}/remove", confirmed="1")
    assert "a transporté 6 messages : désactivé, pas supprimé" in page
    session.expire_all()
    assert session.get(Channel, own.id).state == ChannelState.DISABLED


def test_a_form_without_its_csrf_token_is_refused(
        signed_in: FlaskClient, session: Session, demo: Any) -> None:
    own = _channels(session, demo)["own"]
    for path in (f"/dashboard/channels/{own.id}/disable",
                 f"/dashboard/channels/{own.id}/remove", "/dashboard/channels/add"):
        response = signed_in.post(path, data={"confirmed": "1", "name": "x"})
        assert response.status_code == 400, path
    session.expire_all()
    assert session.get(Channel, own.id).state == ChannelState.DOWN
    assert session.scalar(select(Channel).where(Channel.name == "x")) is None


def test_a_coordinator_manages_only_her_cooperatives_channels(
        signed_in: FlaskClient, session: Session, demo: Any) -> None:
    made = _channels(session, demo)
    page = signed_in.get("/dashboard/channels").get_data(as_text=True)
    assert "channel-test" in _row(page, made["own"])
    shared = _row(page, made["shared"])
    assert "Lecture seule" in shared and "<form" not in shared
    for name in ("shared", "theirs"):
        channel = made[name]
        for action, extra in (("test", {}), ("disable", {}), ("enable", {}),
                              ("remove", {"confirmed": "1"})):
            response = _post(signed_in, f"/dashboard/channels/{channel.id}/{action}", **extra)
            assert response.status_code == 404, (name, action)
        session.expire_all()
        assert session.get(Channel, channel.id).state == ChannelState.ACTIVE
    assert _audit(session, made["shared"].id) == []
    # Nor may she add a phone to another cooperative, or a shared one.
    with FakePhone() as phone:
        for owner in (str(made["theirs"].cooperative_id), ""):
            response = _post(signed_in, "/dashboard/channels/add", **_form(phone, owner=owner))
            assert response.status_code == 403
    assert session.scalar(select(Channel).where(Channel.name == "argan-phone")) is None


def test_a_member_who_is_no_longer_a_coordinator_manages_nothing(
        signed_in: FlaskClient, session: Session, demo: Any) -> None:
    own = _channels(session, demo)["own"]
    account = session.scalars(select(Account).where(
        Account.role == AccountRole.COORDINATOR)).first()
    account.member.role = Role.MEMBER
    session.commit()
    page = signed_in.get("/dashboard/channels").get_data(as_text=True)
    assert 'id="add-phone"' not in page and "channel-test" not in page
    assert _post(signed_in, f"/dashboard/channels/{own.id}/disable").status_code == 404
    with FakePhone() as phone:
        assert _post(signed_in, "/dashboard/channels/add", **_form(phone)).status_code == 403


def test_an_administrator_manages_a_shared_channel_and_adds_one(
        client: FlaskClient, session: Session, demo: Any) -> None:
    made = _channels(session, demo)
    session.add(Account(phone="+212633333344", name="Admin", role=AccountRole.ADMINISTRATOR,
                        password_hash=hash_password("admin-password-1")))
    session.commit()
    login(client, "+212633333344", "admin-password-1")
    for name in ("shared", "theirs"):
        page = post(client, f"/dashboard/channels/{made[name].id}/disable")
        assert "Désactivé" in _row(page, made[name])
    with FakePhone() as phone:
        page = post(client, "/dashboard/channels/add", **_form(phone, owner=""))
    assert "Téléphone argan-phone ajouté." in page
    added = session.scalars(select(Channel).where(Channel.name == "argan-phone")).one()
    assert added.cooperative_id is None
    assert "Partagé" in _row(page, added)


@pytest.mark.parametrize(("changes", "said"), [
    ({"base_url": "ftp://192.168.1.20"}, "L&#39;adresse doit commencer par http://"),
    ({"base_url": ""}, "Donnez l&#39;adresse du téléphone"),
    ({"per_hour": "-5"}, "« SMS par heure » : un nombre de SMS de 1 à 1000000."),
    ({"per_minute": "beaucoup"}, "« SMS par minute » doit être un nombre entier."),
    ({"name": "  "}, "Donnez un nom au canal"),
    ({"password": ""}, "Le mot de passe du téléphone est nécessaire."),
])
def test_bad_input_is_said_in_her_language_and_shown_back_without_secrets(
        signed_in: FlaskClient, session: Session, demo: Any, changes: dict[str, str],
        said: str) -> None:
    with FakePhone(password="phone-pass-7731", signing_key="sign-key-5512") as phone:
        response = _post(signed_in, "/dashboard/channels/add", **_form(phone, **changes))
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and said in page, page[page.find("flash"):][:300]
    assert phone.password not in page and phone.signing_key not in page
    # What she typed is kept, but not the secrets.
    assert f'name="address" inputmode="tel" dir="ltr" maxlength="40" value="{phone.number}"' in page
    assert session.scalar(select(Channel).where(Channel.name == "argan-phone")) is None


def test_bad_input_in_arabic(signed_in: FlaskClient, session: Session, demo: Any) -> None:
    post(signed_in, "/dashboard/language", lang="ar", next="/dashboard")
    with FakePhone() as phone:
        response = _post(signed_in, "/dashboard/channels/add",
                         **_form(phone, base_url="not a url"))
    assert response.status_code == 400
    assert "يجب أن يبدأ العنوان بـ http:// أو https://." in response.get_data(as_text=True)


def test_a_name_already_used_is_said(signed_in: FlaskClient, session: Session,
                                     demo: Any) -> None:
    _channels(session, demo)
    with FakePhone() as phone:
        response = _post(signed_in, "/dashboard/channels/add",
                         **_form(phone, name="smpp-shared"))
    assert response.status_code == 400
    assert "Un canal s&#39;appelle déjà smpp-shared" in response.get_data(as_text=True)


def test_register_webhooks_from_the_form(make_app: Any, session: Session, demo: Any) -> None:
    client = make_app(public_base_url="https://gateway.example.org").test_client()
    login(client)
    with FakePhone() as phone:
        page = post(client, "/dashboard/channels/add", **_form(phone, register="1"))
    assert "Webhooks enregistrés sur le téléphone." in page
    added = session.scalars(select(Channel).where(Channel.name == "argan-phone")).one()
    assert {h["url"] for h in phone.webhooks.values()} == {
        f"https://gateway.example.org/webhooks/android/{added.id}"}
    assert len(phone.webhooks) == 6


def test_register_webhooks_without_a_public_address_adds_nothing(
        signed_in: FlaskClient, session: Session, demo: Any) -> None:
    with FakePhone() as phone:
        response = _post(signed_in, "/dashboard/channels/add", **_form(phone, register="1"))
    assert response.status_code == 400 and "PUBLIC_BASE_URL" in response.get_data(as_text=True)
    assert phone.webhooks == {}
    assert session.scalar(select(Channel).where(Channel.name == "argan-phone")) is None


def test_a_phone_refusing_the_webhooks_is_said_and_nothing_is_added(
        make_app: Any, session: Session, demo: Any) -> None:
    # The app takes only https:// webhooks: a plain-HTTP public address is refused.
    client = make_app(public_base_url="http://gateway.lan").test_client()
    login(client)
    with FakePhone() as phone:
        response = _post(client, "/dashboard/channels/add", **_form(phone, register="1"))
    assert response.status_code == 400
    assert "Le téléphone a refusé le webhook sms:received" in response.get_data(as_text=True)
    assert session.scalar(select(Channel).where(Channel.name == "argan-phone")) is None
