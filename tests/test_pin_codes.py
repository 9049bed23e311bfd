"""One phone, one PIN: a coordinator sends a one-time code; the member chooses her PIN by USSD."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from smsgateway.db import utcnow
from smsgateway.models import (
    AuditLog,
    Cooperative,
    Delivery,
    Member,
    OutboundMessage,
    PhoneCredential,
)
from smsgateway.redisconn import get_redis
from smsgateway.security import check_pin, is_weak_pin
from smsgateway.services import pin_codes
from smsgateway.services.accounts import operator
from smsgateway.services.members import add_member
from tests.ussd_support import Phone

NEW = "+212611223344"


@pytest.fixture
def newcomer(session: Session, demo: Any) -> Member:
    """A member added without a PIN, as an import adds them."""
    member = add_member(session, demo, NEW, name="Hafsa Idrissi", language="fr", region="MA")
    session.commit()
    return member


def _issue(session: Session, member: Member, *, reset: bool = False) -> str:
    message = pin_codes.issue_code(session, operator(), member, hours=72,
                                   service_code="*384*123#", reset=reset)
    session.commit()
    found = re.search(r"\b(\d{6})\b", message.text)
    assert found, message.text
    return found.group(1)


@pytest.mark.parametrize("pin", ["0000", "1111", "1234", "4321", "0123", "9876", "1212"])
def test_easy_pins_are_weak(pin: str) -> None:
    assert is_weak_pin(pin)


@pytest.mark.parametrize("pin", ["4826", "1357", "2580", "7391"])
def test_other_pins_are_not(pin: str) -> None:
    assert not is_weak_pin(pin)


def test_a_member_sets_her_pin_with_the_code_then_records_her_delivery(
    client: FlaskClient, session: Session, newcomer: Member, demo: Any
) -> None:
    code = _issue(session, newcomer)
    phone = Phone(client, NEW)
    phone.dial()
    for typed in ("2", "1", "5"):
        body = phone.press(typed)
    assert "pas encore de PIN" in body and "code a 6 chiffres" in body
    assert "Code incorrect" in phone.press("000000")
    assert "Choisissez votre PIN" in phone.press(code)
    assert "trop facile" in phone.press("1234")
    assert "encore le meme PIN" in phone.press("4826")
    assert "pas le meme PIN" in phone.press("4862")
    body = phone.press("4826")
    assert "Tapez votre PIN pour confirmer" in body, body
    body = phone.press("4826")
    assert body.startswith("END") and "enregistrée" in body, body
    session.expire_all()
    delivery = session.scalars(select(Delivery).where(Delivery.member_id == newcomer.id)).one()
    assert delivery.quantity == 5
    found = session.get(PhoneCredential, NEW)
    assert check_pin(found.pin_hash, "4826") and found.code_used_at is not None
    # Nothing stored says the PIN or the code in clear.
    for entry in session.scalars(select(AuditLog)):
        assert code not in str(entry.details) and "4826" not in str(entry.details)

    # The code worked once: a reset is needed for another.
    assert not found.code_usable(found.code_used_at)


def test_the_code_works_once_and_expires(
    client: FlaskClient, session: Session, newcomer: Member
) -> None:
    code = _issue(session, newcomer)
    session.execute(update(PhoneCredential).values(
        code_expires_at=utcnow() - timedelta(seconds=1)))
    session.commit()
    phone = Phone(client, NEW)
    phone.dial()
    body = phone.press("11")  # My PIN
    assert "Demandez-le au coordinateur" in body and "code a 6" not in body, body
    assert code  # the code was issued, but it has expired


def test_one_phone_one_pin_across_two_cooperatives(
    session: Session, newcomer: Member, demo: Any, client: FlaskClient, app: Flask
) -> None:
    other = Cooperative(slug="couscous", name="Couscous")
    session.add(other)
    session.flush()
    second = add_member(session, other, NEW, name="Hafsa Idrissi", region="MA")
    session.commit()
    code = _issue(session, second)
    phone = Phone(client, NEW)
    phone.dial()
    # She chooses the demo cooperative; the code came from the other one: one PIN for both.
    for typed in ("1", "11", code, "4826", "4826"):
        body = phone.press(typed)
    # Back on the PIN screen she came from: "My PIN" asks for the current one.
    assert "PIN actuel" in body
    # One row for both memberships.
    assert session.scalars(select(PhoneCredential).where(PhoneCredential.phone == NEW)).one()


def test_a_member_changes_her_pin_from_the_menu(
    client: FlaskClient, session: Session, demo: Any
) -> None:
    phone = Phone(client, "+212600000004")
    phone.dial()
    phone.press("11")
    phone.press("1234")  # the demo PIN
    assert "trop facile" in phone.press("0000")
    phone.press("5937")
    body = phone.press("5937")
    assert body.startswith("END") and "PIN" in body
    session.expire_all()
    assert check_pin(session.get(PhoneCredential, "+212600000004").pin_hash, "5937")


def test_reset_clears_the_pin_and_the_lockout(
    app: Flask, session: Session, demo: Any, client: FlaskClient
) -> None:
    member = session.scalars(select(Member).where(Member.phone == "+212600000003")).one()
    phone = Phone(client, member.phone)
    phone.dial()
    phone.press("11")
    for _ in range(3):
        body = phone.press("9999")
    assert "PIN" in body and body.startswith("END")
    with pytest.raises(ValueError, match="^phone: .* has a PIN already"):
        _issue(session, member)
    session.rollback()
    code = _issue(session, member, reset=True)
    pin_codes.clear_lockout(get_redis(app), member)
    assert session.get(PhoneCredential, member.phone).pin_hash is None
    phone.dial()
    for typed in ("11", code, "6402", "6402"):
        body = phone.press(typed)
    assert "PIN nnm lli ilan" in body  # Itto reads Tamazight: "your current PIN"
    sms = session.scalars(select(OutboundMessage).where(
        OutboundMessage.to_phone == member.phone)).all()
    assert len(sms) == 1 and code in sms[0].text


def test_the_code_is_not_shown_on_the_dashboard(
    client: FlaskClient, session: Session, newcomer: Member
) -> None:
    from tests.test_dashboard import _login

    code = _issue(session, newcomer)
    assert _login(client).status_code == 302
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Tableau de bord" in page or "Stock" in page
    assert code not in page
