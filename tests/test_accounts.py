"""Accounts: administrators see every cooperative, a coordinator only her own."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from smsgateway.exceptions import NotPermitted, Refused
from smsgateway.models import Account, AuditLog, Cooperative, Member, Role
from smsgateway.security import check_password
from smsgateway.services import accounts
from smsgateway.services.accounts import actor_for, create_account, operator
from tests.test_dashboard import _login

ADMIN_PHONE = "+212611000001"
OTHER_COORDINATOR = "+212611000002"
PASSWORD = "un mot de passe long"


@pytest.fixture
def second(session: Session, demo: Any) -> Cooperative:
    coop = Cooperative(slug="couscous", name="Couscous Tighanimine")
    session.add(coop)
    session.commit()
    return coop


def test_the_operator_creates_a_coordinator_with_her_membership(
    session: Session, second: Cooperative
) -> None:
    account = create_account(session, operator(), phone="0611000002", name="Zahra",
                             role="coordinator", password=PASSWORD, region="MA",
                             cooperative_id=second.id)
    session.commit()
    assert account.phone == OTHER_COORDINATOR and check_password(account.password_hash,
                                                                  PASSWORD)
    member = session.scalars(select(Member).where(Member.cooperative_id == second.id)).one()
    assert account.member == member and member.role == Role.COORDINATOR
    entry = session.scalars(select(AuditLog).where(AuditLog.action == "account.create")).one()
    assert entry.actor_label == "operator" and entry.channel == "cli"
    assert PASSWORD not in str(entry.details) and "password" not in str(entry.details)


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"phone": "not a phone"}, "phone"),
     ({"phone": "+212600000001"}, "phone"),  # the demo coordinator has one already
     ({"role": "boss"}, "role"),
     ({"password": "short"}, "password"),
     ({"cooperative_id": None}, "cooperative"),
     ({"language": "de"}, "language")],
    ids=["bad-phone", "phone-in-use", "bad-role", "short-password", "no-coop", "language"],
)
def test_refusals_name_the_field_and_change_nothing(
    session: Session, second: Cooperative, fields: dict[str, Any], field: str
) -> None:
    values: dict[str, Any] = {"phone": OTHER_COORDINATOR, "name": "Zahra", "role": "coordinator",
                              "password": PASSWORD, "region": "MA",
                              "cooperative_id": second.id, **fields}
    before = session.scalars(select(Account)).all()
    with pytest.raises(Refused) as refused:
        create_account(session, operator(), **values)
    session.rollback()
    assert refused.value.field == field and str(refused.value).startswith(f"{field}: ")
    assert session.scalars(select(Account)).all() == before


def test_visibility(session: Session, demo: Any, second: Cooperative) -> None:
    admin = create_account(session, operator(), phone=ADMIN_PHONE, name="Admin",
                           role="administrator", password=PASSWORD, region="MA")
    demo_coordinator = session.scalars(select(Account).where(
        Account.cooperative_id == demo.id)).one()
    session.commit()
    assert accounts.visible_cooperative_ids(session, admin) == {demo.id, second.id}
    assert accounts.visible_cooperative_ids(session, demo_coordinator) == {demo.id}
    with pytest.raises(NotPermitted):
        accounts.require_cooperative(session, actor_for(demo_coordinator, "web"), second.id)
    with pytest.raises(NotPermitted):
        create_account(session, actor_for(demo_coordinator, "web"), phone=OTHER_COORDINATOR,
                       name="x", role="coordinator", password=PASSWORD, region="MA",
                       cooperative_id=demo.id)
    demo_coordinator.active = False
    assert accounts.visible_cooperative_ids(session, demo_coordinator) == set()


def test_an_administrator_signs_in_and_picks_a_cooperative(
    client: FlaskClient, session: Session, second: Cooperative
) -> None:
    create_account(session, operator(), phone=ADMIN_PHONE, name="Admin", role="administrator",
                   password=PASSWORD, region="MA")
    session.commit()
    assert _login(client, ADMIN_PHONE, PASSWORD).status_code == 302
    assert "Épicerie Bio Agadir" in client.get("/dashboard").get_data(as_text=True)
    page = client.get(f"/dashboard?coop={second.id}").get_data(as_text=True)
    assert "Épicerie Bio Agadir" not in page


def test_a_coordinator_cannot_look_at_another_cooperative(
    client: FlaskClient, session: Session, demo: Any, second: Cooperative
) -> None:
    create_account(session, operator(), phone=OTHER_COORDINATOR, name="Zahra",
                   role="coordinator", password=PASSWORD, region="MA", cooperative_id=second.id)
    session.commit()
    assert _login(client, OTHER_COORDINATOR, PASSWORD).status_code == 302
    for path in ("/dashboard", f"/dashboard?coop={demo.id}"):
        assert "Épicerie Bio Agadir" not in client.get(path).get_data(as_text=True)


def test_reset_and_deactivate(client: FlaskClient, session: Session, demo: Any) -> None:
    account, password = accounts.reset_password(session, operator(), "0600000001", "MA")
    session.commit()
    assert len(password) >= 12 and check_password(account.password_hash, password)
    assert _login(client, "+212600000001", "argan-demo").status_code == 401
    assert _login(client, "+212600000001", password).status_code == 302
    accounts.deactivate_account(session, operator(), "+212600000001", "MA")
    session.commit()
    assert client.get("/dashboard").status_code == 302  # signed out at the next page
    with pytest.raises(Refused, match="^phone: .* already deactivated"):
        accounts.deactivate_account(session, operator(), "+212600000001", "MA")


def test_the_cli_creates_an_administrator_who_sees_every_cooperative(
    runner: Any, session: Session, second: Cooperative
) -> None:
    result = runner.invoke(args=["users", "create", "--phone", ADMIN_PHONE, "--role",
                                 "administrator", "--prompt-password"],
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output and "one-time password" not in result.output
    listed = runner.invoke(args=["coops", "list", "--as", ADMIN_PHONE]).output
    assert {line.split("\t")[0] for line in listed.splitlines()} == {"demo", "couscous"}
    result = runner.invoke(args=["users", "reset-password", "+212600000001", "--as",
                                 ADMIN_PHONE])
    assert result.exit_code == 0 and "one-time password: " in result.output
    assert "+212600000001\tcoordinator\tdemo" in runner.invoke(
        args=["users", "list", "--as", ADMIN_PHONE]).output
    entries = session.scalars(select(AuditLog).where(
        AuditLog.action == "account.reset_password")).all()
    assert [e.actor_label for e in entries] == [f"account:{ADMIN_PHONE}"]
