"""``broadcast list`` and ``broadcast cancel ID``: the dashboard's cancel, at the command line."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from smsgateway.db import get_db, utcnow
from smsgateway.models import Broadcast, BroadcastStatus
from smsgateway.seed import seed_demo


def _send(app: Flask, *args: str) -> int:
    result = app.test_cli_runner().invoke(args=["broadcast", "send", "--coop", "demo", *args])
    assert result.exit_code == 0, result.output
    with app.app_context(), get_db(app).session() as session:
        return session.scalars(select(Broadcast.id).order_by(Broadcast.id.desc())).first()


def test_list_then_cancel_a_scheduled_broadcast(make_app: Any) -> None:
    app = make_app(sms={"provider": "console"}, prices={"console": "0.25"})
    with app.app_context(), get_db(app).session() as session:
        seed_demo(session, app.config["SETTINGS"].defaults.region)
        session.commit()
    at = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%d 10:00")
    first = _send(app, "--message", "Assemblée générale samedi", "--at", at)
    runner = app.test_cli_runner()
    listing = runner.invoke(args=["broadcast", "list"])
    assert listing.exit_code == 0, listing.output
    assert f"{first:>6}" in listing.output and "scheduled" in listing.output
    assert "4 recipients" in listing.output and "Assemblée générale samedi" in listing.output
    # Asked once more; "no" changes nothing.
    refused = runner.invoke(args=["broadcast", "cancel", str(first)], input="n\n")
    assert refused.exit_code == 1
    with app.app_context(), get_db(app).session() as session:
        assert session.get(Broadcast, first).status == BroadcastStatus.SCHEDULED
    done = runner.invoke(args=["broadcast", "cancel", str(first)], input="y\n")
    assert done.exit_code == 0, done.output
    assert f"broadcast {first} cancelled" in done.output
    with app.app_context(), get_db(app).session() as session:
        assert session.get(Broadcast, first).status == BroadcastStatus.CANCELLED
    again = runner.invoke(args=["broadcast", "cancel", str(first), "--yes"])
    assert again.exit_code == 1 and "already ended (cancelled)" in again.output
    unknown = runner.invoke(args=["broadcast", "cancel", "999999", "--yes"])
    assert unknown.exit_code == 1 and "no broadcast 999999" in unknown.output
    assert "cancelled" in runner.invoke(args=["broadcast", "list", "--coop", "demo"]).output


def test_list_says_when_there_is_none(make_app: Any) -> None:
    app = make_app()
    result = app.test_cli_runner().invoke(args=["broadcast", "list"])
    assert result.exit_code == 0 and "no broadcast" in result.output
