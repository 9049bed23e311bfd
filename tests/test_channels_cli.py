"""``smsgateway channels`` and the broadcast time estimate on a cooperative's phones."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from fakes.smsgate import FakePhone
from menus.numbers import duration
from smsgateway.broadcasts.duration import estimate
from smsgateway.channels.secrets import get_box
from smsgateway.models.channels import Channel, ChannelState


def _add(runner: FlaskCliRunner, phone: FakePhone, name: str, *extra: str) -> Any:
    return runner.invoke(args=["channels", "add", "android", name, "--coop", "demo",
                               "--base-url", phone.base_url, "--password", phone.password,
                               "--signing-key", phone.signing_key, *extra])


def test_add_keeps_secrets_encrypted_and_never_prints_them(
        app: Flask, runner: FlaskCliRunner, session: Session, demo: Any) -> None:
    with FakePhone() as phone:
        result = _add(runner, phone, "argan-phone", "--per-hour", "600", "--sim", "2")
        assert result.exit_code == 0, result.output
        listed = runner.invoke(args=["channels", "list"])
        tested = runner.invoke(args=["channels", "test", "1"])
    assert "argan-phone" in listed.output and "600" in listed.output
    assert tested.exit_code == 0 and "answers" in tested.output
    for output in (result.output, listed.output, tested.output):
        assert phone.password not in output and phone.signing_key not in output
    row = session.scalars(select(Channel).where(Channel.name == "argan-phone")).one()
    assert phone.password not in row.secrets and row.settings["sim_number"] == "2"
    with app.app_context():
        assert get_box(app).open(row.secrets) == {"password": phone.password,
                                                  "signing_key": phone.signing_key}


def test_register_webhooks_on_the_phone(runner: FlaskCliRunner, demo: Any) -> None:
    with FakePhone() as phone:
        result = _add(runner, phone, "argan-phone", "--register-webhooks",
                      "--webhook-base", "https://gateway.example.org")
    assert result.exit_code == 0, result.output
    assert sorted(h["event"] for h in phone.webhooks.values()) == sorted(
        ["sms:received", "sms:sent", "sms:delivered", "sms:failed", "system:ping",
         "app:started"])
    assert {h["url"] for h in phone.webhooks.values()} == {
        "https://gateway.example.org/webhooks/android/1"}


@pytest.mark.parametrize(("server", "said"), [
    ("private", "the server answers (pass)"),
    ("cloud", "cloud mode, watched through the phone's system:ping (last seen never)"),
])
def test_server_mode_add_register_and_test(runner: FlaskCliRunner, session: Session,
                                           demo: Any, server: str, said: str) -> None:
    with FakePhone(server=server) as phone:
        result = _add(runner, phone, f"{server}-phone", "--mode", server, "--username",
                      phone.username, "--register-webhooks", "--webhook-base",
                      "https://gateway.example.org")
        tested = runner.invoke(args=["channels", "test", "1"])
    assert result.exit_code == 0, result.output
    assert phone.requests["POST /3rdparty/v1/webhooks"] == 6
    assert tested.exit_code == 0 and said in tested.output, tested.output
    row = session.scalars(select(Channel).where(Channel.name == f"{server}-phone")).one()
    # Neither probe proves the phone itself alive.
    assert row.last_seen is None and row.settings["mode"] == server


def test_register_webhooks_needs_an_address(runner: FlaskCliRunner, demo: Any) -> None:
    with FakePhone() as phone:
        result = _add(runner, phone, "argan-phone", "--register-webhooks")
    assert result.exit_code != 0 and "PUBLIC_BASE_URL" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["channels", "add", "android", "p", "--password", "x", "--signing-key", "y"],
     "--base-url"),
    (["channels", "add", "android", "p", "--mode", "private", "--password", "x",
      "--signing-key", "y"], "the server's API"),
    (["channels", "add", "android", "p", "--coop", "nowhere", "--base-url", "http://x",
      "--password", "x", "--signing-key", "y"], "no cooperative"),
    (["channels", "test", "42"], "no channel 42"),
])
def test_bad_commands_say_why(runner: FlaskCliRunner, demo: Any, args: list[str],
                              message: str) -> None:
    result = runner.invoke(args=args)
    assert result.exit_code != 0 and message in result.output


def test_disable_enable_and_remove(runner: FlaskCliRunner, session: Session,
                                   demo: Any) -> None:
    with FakePhone() as phone:
        _add(runner, phone, "argan-phone")
    assert runner.invoke(args=["channels", "disable", "1"]).exit_code == 0
    session.expire_all()
    assert session.get(Channel, 1).state == ChannelState.DISABLED
    runner.invoke(args=["channels", "enable", "1"])
    session.expire_all()
    assert session.get(Channel, 1).state == ChannelState.ACTIVE
    assert "removed" in runner.invoke(args=["channels", "remove", "1"]).output
    session.expire_all()
    assert session.get(Channel, 1) is None


def test_estimate_reads_as_the_issue_says(app: Flask, session: Session, demo: Any) -> None:
    for name in ("p1", "p2"):
        session.add(Channel(kind="android", name=name, cooperative_id=demo.id, settings={},
                            health={}, rate_per_hour=600))
    session.commit()
    with app.app_context():
        result = estimate(session, app.config["SETTINGS"], demo.id, 5000, 1, urgent=True)
    assert result.describe() == ("5,000 recipients, 2 phones at 600 SMS/h: "
                                 "about 4 h 10 min; urgent alerts first")


@pytest.mark.parametrize(("seconds", "said"), [
    (20, "under a minute"), (12 * 60, "about 12 min"), (3600, "about 1 h"),
    (15000, "about 4 h 10 min"), (5 * 86400, "about 5 days")])
def test_duration_words(seconds: float, said: str) -> None:
    assert duration(seconds) == said


def test_broadcast_dry_run_shows_the_time(runner: FlaskCliRunner, session: Session,
                                          demo: Any) -> None:
    session.add(Channel(kind="android", name="p1", cooperative_id=demo.id, settings={},
                        health={}, rate_per_hour=600))
    session.commit()
    result = runner.invoke(args=["broadcast", "send", "--coop", "demo", "--message",
                                 "Reunion jeudi", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "estimated time:" in result.output and "1 phone at 600 SMS/h" in result.output


def test_readyz_shows_each_phone_without_failing_for_a_down_one(
        app: Flask, session: Session, demo: Any) -> None:
    session.add(Channel(kind="android", name="p1", cooperative_id=demo.id, settings={},
                        health={"battery": 12, "event": "system:ping"},
                        state=ChannelState.DOWN))
    session.commit()
    body = app.test_client().get("/readyz").get_json()
    [record] = body["channels"]["records"]
    assert record["state"] == "down" and record["health"]["battery"] == 12
    assert body["channels"]["ok"] is True
