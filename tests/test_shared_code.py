"""One phone in two cooperatives: the shared code lets her choose; her own code or extension
takes her straight in; today's dial strings still jump into the menu."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from smsgateway.models import Cooperative, Delivery, Member
from smsgateway.services.members import add_member
from tests.ussd_support import URL, Phone, check_screen

KHADIJA = "+212600000002"  # in the demo (Arabic) and, here, in the couscous cooperative


@pytest.fixture
def two(session: Session, demo: Any) -> Cooperative:
    other = Cooperative(slug="couscous", name="Couscous Tighanimine", ussd_code="770")
    session.add(other)
    session.flush()
    add_member(session, other, KHADIJA, name="Khadija O.", language="fr", region="MA",
               role="coordinator")
    add_member(session, other, "+212600000009", name="Solo", language="fr", region="MA")
    session.commit()
    return other


def _dial(client: FlaskClient, phone: str, text: str, service_code: str) -> str:
    response = client.post(URL, data={"sessionId": f"s-{phone}-{text}-{service_code}",
                                      "serviceCode": service_code, "phoneNumber": phone,
                                      "networkCode": "99999", "text": text})
    return check_screen(response.get_data(as_text=True))


def test_a_member_of_two_chooses_on_her_first_screen(
        client: FlaskClient, two: Cooperative, session: Session) -> None:
    phone = Phone(client, KHADIJA)
    first = phone.dial()
    # In her first membership's language (Arabic); names cut to fit a short screen.
    assert "أي تعاونية" in first and "1 Coopérative féminine Tifawin" in first
    assert "2 Couscous Tighanimine" in first
    home = phone.press("2")
    # Her membership there: French, and a coordinator's options.
    assert "Bonjour Khadija" in home and "Livraisons à valider" in home


def test_a_dial_string_still_jumps_into_the_menu_after_the_choice(
        client: FlaskClient, two: Cooperative, session: Session) -> None:
    phone = Phone(client, KHADIJA)
    assert "أي تعاونية" in phone.dial("2")  # *384*123*2#: she chooses first
    screen = phone.press("1")  # the demo: "record a delivery" in Arabic
    assert "ما المنتوج" in screen and "أملو" in screen


def test_an_extension_or_an_own_code_goes_straight_in(
        client: FlaskClient, two: Cooperative, session: Session) -> None:
    assert "Bonjour Khadija" in _dial(client, KHADIJA, "770", "*384*123#")
    # *384*123*770*2#: the couscous cooperative's delivery screen (it has no product yet).
    assert "Aucun produit" in _dial(client, KHADIJA, "770*2", "*384*123#")
    two.ussd_code = "*384*77#"
    session.commit()
    # Her own code: straight in (offering to resume the session she just left, in French).
    assert "Reprendre" in _dial(client, KHADIJA, "", "*384*77#")
    assert "Stock de la coop" in _dial(client, KHADIJA, "1", "*384*77#")  # *384*77*1#


def test_a_member_of_one_lands_in_hers(client: FlaskClient, two: Cooperative,
                                       session: Session) -> None:
    assert "Bonjour Solo" in Phone(client, "+212600000009").dial()
    phone = Phone(client, "+212600000004")  # Aicha, demo only: *384*123*2# as today
    assert "Quel produit" in phone.dial("2")
    for typed in ("1", "3", "1234"):
        body = phone.press(typed)
    assert "enregistrée" in body
    aicha = session.scalars(select(Member).where(Member.phone == "+212600000004")).one()
    assert session.scalars(select(Delivery).where(Delivery.member_id == aicha.id)).one()


def test_codes_name_what_her_cooperative_dials(two: Cooperative) -> None:
    from smsgateway.services.coops import dial_code

    assert dial_code(two, "*384*123#") == "*384*123*770#"
    two.ussd_code = "*384*77#"
    assert dial_code(two, "*384*123#") == "*384*77#"
    two.ussd_code = None
    assert dial_code(two, "*384*123#") == "*384*123#"


def test_an_unknown_caller_asks_to_join_the_cooperative_she_dialled(
        client: FlaskClient, two: Cooperative, session: Session) -> None:
    from smsgateway.models import JoinRequest

    assert "Demander" in _dial(client, "+212611119999", "770", "*384*123#")
    _dial(client, "+212611119999", "770*1", "*384*123#")
    request = session.scalars(select(JoinRequest)).one()
    assert request.cooperative_id == two.id
