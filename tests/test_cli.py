"""The smsgateway command: migrations, demo data, configuration."""

from __future__ import annotations

import json
from decimal import Decimal

from alembic.script import ScriptDirectory
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smsgateway.db import get_db
from smsgateway.migrate import alembic_config
from smsgateway.models import (
    Account,
    Cooperative,
    Member,
    Order,
    OrderStatus,
    PhoneCredential,
    Product,
    Role,
)
from smsgateway.security import check_password, check_pin
from smsgateway.seed import DEMO_PASSWORD
from smsgateway.services.stock import stock_level


def test_db_upgrade_reports_the_revision(runner: FlaskCliRunner) -> None:
    head = ScriptDirectory.from_config(alembic_config(get_db(runner.app))).get_current_head()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"database at {head}" in result.output
    result = runner.invoke(args=["db", "current"])
    assert f"current: {head}  head: {head}" in result.output


def test_db_upgrade_makes_the_environments_channels_once(runner: FlaskCliRunner,
                                                        session: Session) -> None:
    from smsgateway.models.channels import Channel

    for _ in range(2):
        result = runner.invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
    made = session.scalars(select(Channel).where(Channel.name.like("% (environment)"))).all()
    # Made before any web process serves: the first webhooks no longer race to make it.
    assert [(c.name, c.cooperative_id) for c in made] == [("console (environment)", None)]


def test_seed_demo_builds_the_demo_cooperative(runner: FlaskCliRunner, session: Session) -> None:
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "argan-demo" in result.output
    coop = session.scalars(select(Cooperative)).one()
    assert coop.slug == "demo"
    people = {m.phone: m for m in session.scalars(select(Member))}
    assert {p: (m.role, m.language) for p, m in people.items()} == {
        "+212600000001": (Role.COORDINATOR, "fr"),
        "+212600000002": (Role.MEMBER, "ar"),
        "+212600000003": (Role.MEMBER, "zgh"),
        "+212600000004": (Role.MEMBER, "fr"),
    }
    assert all(check_pin(session.get(PhoneCredential, phone).pin_hash, "1234")
               for phone in people)
    account = session.scalars(select(Account)).one()
    assert account.member == people["+212600000001"] and account.cooperative == coop
    assert check_password(account.password_hash, DEMO_PASSWORD)
    products = {p.code: p for p in session.scalars(select(Product))}
    assert {c: p.unit for c, p in products.items()} == {"ARGAN": "l", "AMLOU": "kg"}
    assert stock_level(session, products["ARGAN"].id) == Decimal("120")
    assert stock_level(session, products["AMLOU"].id) > 0
    pending = session.scalars(select(Order).where(Order.status == OrderStatus.PENDING)).all()
    assert len(pending) == 1

    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0
    assert session.scalar(select(func.count()).select_from(Member)) == 4


def test_check_config_hides_secrets(app: Flask, runner: FlaskCliRunner, monkeypatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "very-secret-token")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC123")
    result = runner.invoke(args=["check-config"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["twilio"]["auth_token"] == "***"
    assert "very-secret-token" not in result.output
