"""Each role's journey, end to end through the CLI, USSD, SMS and the dashboard.

An operator creates a cooperative and its coordinator; she adds a product with its price,
imports members and sends them PIN codes; a member chooses her PIN by USSD and records a
delivery; the price changes; the coordinator accepts the delivery, valued at that day's
price; a resolution opens, members vote by USSD and SMS, it closes, and the results (turnout,
quorum) reach every member by SMS in her language.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smsgateway.models import (
    AuditLog,
    Delivery,
    DeliveryStatus,
    Member,
    Order,
    OutboundMessage,
    Product,
    Resolution,
    Vote,
)
from tests.sms_support import at_form, inbound, replies_to
from tests.test_dashboard import _login, _post
from tests.ussd_support import Phone

COORDINATOR = "+212661000001"
HAFSA = "+212670000001"  # reads French
NAIMA = "+212670000002"  # reads Arabic
LAILA = "+212670000003"  # reads English
CSV = """phone,name,language,role,groups
0670000001,Hafsa Idrissi,fr,member,Tiznit
0670000002,Naima Ouali,ar,member,Aglou
0670000003,Laila Baha,en,member,Tiznit
12345,Not A Phone,fr,member,
"""


def cli(runner: FlaskCliRunner, *args: str, ok: bool = True, **kwargs: Any) -> str:
    """Run a command; assert it succeeded (or was refused, with ``ok=False``)."""
    result = runner.invoke(args=list(args), **kwargs)
    assert (result.exit_code == 0) == ok, result.output
    return result.output


def _code_for(session: Session, phone: str) -> str:
    session.expire_all()
    text = session.scalars(select(OutboundMessage.text).where(OutboundMessage.to_phone == phone)
                           .order_by(OutboundMessage.id.desc())).first()
    found = re.search(r"\b(\d{6})\b", text or "")
    assert found, text
    return found.group(1)


def _sms(client: FlaskClient, session: Session, phone: str, text: str) -> str:
    form = at_form(phone, text)
    assert client.post("/webhooks/africastalking/sms", data=form).status_code == 200
    stored = inbound(session, "africastalking", form["id"])
    assert stored is not None and stored.status == "processed", stored and stored.error
    [reply] = replies_to(session, stored.id)
    return reply.text


@pytest.fixture
def union(runner: FlaskCliRunner, demo: Any, tmp_path: Path) -> dict[str, str]:
    """The operator's part: a second cooperative and its coordinator's account."""
    out = cli(runner, "coops", "create", "--slug", "couscous", "--name", "Tighanimine",
              "--region", "Tiznit", "--language", "fr", "--timezone", "Africa/Casablanca",
              "--sender", "Tighanimine")
    assert "cooperative couscous created" in out
    out = cli(runner, "users", "create", "--phone", "0661000001", "--name", "Zahra Ouhmad",
              "--coop", "couscous")
    password = re.search(r"one-time password: (\S+)", out)
    assert password
    return {"password": password.group(1)}


def test_the_whole_journey(app: Flask, runner: FlaskCliRunner, client: FlaskClient,
                           session: Session, union: dict[str, str], tmp_path: Path) -> None:
    zahra = ("--as", "0661000001")
    # The coordinator's products and members.
    cli(runner, "products", "add", "--coop", "couscous", "--code", "COUSCOUS",
        "--name-fr", "Couscous d'orge", "--name-ar", "كسكس", "--unit", "kg", "--price", "35",
        "--sale-price", "60", *zahra)
    path = tmp_path / "members.csv"
    path.write_text(CSV)
    result = runner.invoke(args=["members", "import", str(path), "--coop", "couscous",
                                 "--issue-codes", *zahra])
    assert result.exit_code == 0, result.output
    assert "line 5: not a valid number" in result.output
    assert "3 added, 0 updated, 0 unchanged, 1 rejected; 4 codes sent" in result.output

    # Hafsa chooses her PIN with her code, then records a delivery.
    phone = Phone(client, HAFSA)
    phone.dial()
    for typed in ("2", "1", "10"):
        body = phone.press(typed)
    assert "code a 6 chiffres" in body
    for typed in (_code_for(session, HAFSA), "5937", "5937"):
        body = phone.press(typed)
    assert "Tapez votre PIN pour confirmer" in body
    assert "enregistrée" in phone.press("5937")

    # The price goes up after she delivered: she is owed that day's price.
    assert "40.00 per kg" in cli(runner, "products", "price", "--coop", "couscous",
                                 "COUSCOUS", "40", *zahra)
    response = _login(client, COORDINATOR, union["password"])
    assert response.status_code == 302
    delivery = session.scalars(select(Delivery)
                               .join(Member, Member.id == Delivery.member_id)
                               .where(Member.phone == HAFSA)).one()
    assert "acceptée" in _post(client, f"/dashboard/deliveries/{delivery.id}/accept")
    session.expire_all()
    assert delivery.status == DeliveryStatus.ACCEPTED and delivery.unit_price == 35
    assert "350" in _sms(client, session, HAFSA, "SOLDE")

    # A buyer's order, recorded and confirmed from the command line.
    out = cli(runner, "orders", "add", "--coop", "couscous", "--buyer", "Marjane Tiznit",
              "--product", "COUSCOUS", "--quantity", "4", *zahra)
    order_id = int(re.search(r"order (\d+) recorded", out).group(1))  # type: ignore[union-attr]
    assert "confirm" in cli(runner, "orders", "confirm", str(order_id), *zahra).lower()

    # A resolution for the assembly: votes by USSD and SMS, then the results by SMS.
    out = cli(runner, "resolutions", "create", "--coop", "couscous",
              "--question-fr", "Approuver les comptes ?", "--choices-fr", "Oui,Non",
              "--question-ar", "هل توافقن على الحسابات؟", "--choices-ar", "نعم,لا",
              "--question-en", "Approve the accounts?", "--choices-en", "Yes,No",
              "--closes", "2099-06-30 18:00", "--quorum", "50", *zahra)
    resolution_id = int(re.search(r"resolution (\d+)", out).group(1))  # type: ignore[union-attr]
    phone.dial()
    phone.press("5")
    phone.press("1")
    assert "Oui" in phone.press("1")
    assert "\"" in _sms(client, session, NAIMA, "VOTE 2")  # Naima votes no by SMS
    assert "Vote recorded: Yes" in _sms(client, session, LAILA, f"VOTE {resolution_id} 1")
    assert "Vote recorded: No" in _sms(client, session, LAILA, f"VOTE {resolution_id} 2")
    # Once a vote is cast, only the closing time may change.
    out = cli(runner, "resolutions", "edit", str(resolution_id), "--quorum", "10", *zahra,
              ok=False)
    assert "error: quorum: votes are cast" in out
    cli(runner, "resolutions", "edit", str(resolution_id), "--closes", "2099-07-01 18:00",
        *zahra)

    before = session.scalar(select(func.count()).select_from(OutboundMessage))
    out = cli(runner, "resolutions", "close", str(resolution_id), *zahra)
    assert "Oui 1, Non 2" in out and "turnout 75% (3/4)" in out and "quorum 50%: met" in out
    session.expire_all()
    results = {m.to_phone: m.text for m in session.scalars(
        select(OutboundMessage).where(OutboundMessage.id > before))}
    assert set(results) == {HAFSA, NAIMA, LAILA, COORDINATOR}
    assert "Oui 1, Non 2" in results[HAFSA] and "75% (3/4)" in results[HAFSA]
    assert "quorum atteint" in results[HAFSA]
    assert "نعم 1, لا 2" in results[NAIMA] and "النصاب مكتمل" in results[NAIMA]
    assert "Yes 1, No 2" in results[LAILA]
    # From the cooperative's own SMS sender.
    assert {m.sender for m in session.scalars(
        select(OutboundMessage).where(OutboundMessage.id > before))} == {"Tighanimine"}
    # And on USSD, once closed.
    assert "Oui 1, Non 2 (75%, quorum atteint)" in phone.dial("12")
    # Once only: closing again is refused and sends nothing.
    assert "already closed" in cli(runner, "resolutions", "close", str(resolution_id), *zahra,
                                   ok=False)
    assert session.scalar(select(func.count()).select_from(Vote)) == 3


def test_refusals_name_the_field_and_change_nothing(
        runner: FlaskCliRunner, session: Session, union: dict[str, str]) -> None:
    zahra = ("--as", "0661000001")
    cli(runner, "products", "add", "--coop", "couscous", "--code", "COUSCOUS",
        "--name-fr", "Couscous", "--unit", "kg", "--price", "35", *zahra)
    audit_rows = session.scalar(select(func.count()).select_from(AuditLog))
    refusals = {
        "slug": ["coops", "create", "--slug", "couscous", "--name", "Encore"],
        "price": ["products", "add", "--coop", "couscous", "--code", "MIEL", "--name-fr",
                  "Miel", "--unit", "kg", "--price", "-1", *zahra],
        "code": ["products", "add", "--coop", "couscous", "--code", "COUSCOUS",
                 "--name-fr", "x", "--unit", "kg", "--price", "1", *zahra],
        "closes": ["resolutions", "create", "--coop", "couscous", "--question-fr", "Q ?",
                   "--choices-fr", "Oui,Non", "--opens", "2099-06-02 10:00", "--closes",
                   "2099-06-01 10:00", *zahra],
        "phone": ["members", "add", "--coop", "couscous", "--phone", "12345", *zahra],
        "ussd-code": ["coops", "edit", "couscous", "--ussd-code", "abc"],
        "timezone": ["coops", "edit", "couscous", "--timezone", "Mars/Olympus"],
    }
    for field, args in refusals.items():
        out = cli(runner, *args, ok=False)
        assert out.strip().splitlines()[-1].startswith(f"error: {field}: "), (field, out)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(AuditLog)) == audit_rows
    assert session.scalar(select(func.count()).select_from(Product)) == 3  # demo's 2 + 1


def test_a_coordinator_reaches_nothing_of_another_cooperative(
        runner: FlaskCliRunner, client: FlaskClient, session: Session, demo: Any,
        union: dict[str, str]) -> None:
    zahra = ("--as", "0661000001")
    order = session.scalars(select(Order).where(Order.cooperative_id == demo.id)).one()
    resolution = session.scalars(select(Resolution)).one()
    audit_rows = session.scalar(select(func.count()).select_from(AuditLog))
    attempts = [
        ["products", "list", "--coop", "demo"],
        ["products", "price", "--coop", "demo", "ARGAN", "1"],
        ["members", "export", "--coop", "demo"],
        ["members", "edit", "--coop", "demo", "+212600000002", "--name", "x"],
        ["members", "import", "/dev/null", "--coop", "demo"],
        ["pins", "issue", "--coop", "demo", "+212600000002"],
        ["pins", "reset", "--coop", "demo", "+212600000002"],
        ["orders", "list", "--coop", "demo"],
        ["orders", "add", "--coop", "demo", "--buyer", "x", "--product", "ARGAN",
         "--quantity", "1"],
        ["orders", "confirm", str(order.id)],
        ["orders", "reject", str(order.id)],
        ["resolutions", "results", str(resolution.id)],
        ["resolutions", "close", str(resolution.id)],
        ["resolutions", "edit", str(resolution.id), "--closes", "2099-01-01 10:00"],
        ["resolutions", "list", "--coop", "demo"],
        ["coops", "edit", "demo", "--name", "x"],
        ["coops", "create", "--slug", "mine", "--name", "x"],
        ["users", "create", "--phone", "0661000009", "--coop", "couscous"],
        ["users", "reset-password", "+212600000001"],
    ]
    for args in attempts:
        out = cli(runner, *args, *zahra, ok=False)
        assert out.strip().splitlines()[-1].startswith("error: "), (args, out)
        assert "Tifawin" not in out and "ARGAN" not in out, (args, out)
    assert [line.split("\t")[0] for line in cli(runner, "coops", "list", *zahra).splitlines()] \
        == ["couscous"]
    # Through the dashboard, with the ids of the other cooperative's records.
    assert _login(client, COORDINATOR, union["password"]).status_code == 302
    page = _post(client, f"/dashboard/orders/{order.id}/confirm")
    assert "Commande introuvable" in page or "Seule une coordinatrice" in page
    page = client.get(f"/dashboard?coop={demo.id}").get_data(as_text=True)
    assert "Épicerie Bio Agadir" not in page
    session.expire_all()
    assert session.get(Order, order.id).status == "pending"
    assert session.scalar(select(func.count()).select_from(AuditLog)) == audit_rows
    assert session.get(Product, session.scalar(select(Product.id).where(
        Product.code == "ARGAN"))).member_price == Decimal("180")
