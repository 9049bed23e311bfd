"""The broadcast commands: members import, broadcast send/status, segments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from smsgateway.db import get_db
from smsgateway.models import Broadcast, Group, Member, OutboundMessage
from smsgateway.seed import seed_demo
from smsgateway.worker import run_burst
from tests.broadcast_support import app_with

CSV = """phone,name,language,role,groups
0612345678,Fatima,fr,coordinator,Aït Baha;argan
+212 6 12 34 56 79,Khadija,ar,,amlou
123,Bad number,fr,,
0612345680,Itto,xx,,
0612345681,Aicha,fr,chief,
0612345678,Twice,fr,,
0712345682,Said,,member,,extra
0712345683,Hassan,,,
"""


@pytest.fixture
def bapp(make_app: Any) -> Flask:
    app = app_with(make_app, sms={"provider": "console"}, prices={"console": "0.25"})
    with app.app_context(), get_db(app).session() as session:
        seed_demo(session, app.config["SETTINGS"].defaults.region)
    return app


def test_members_import_reports_bad_lines_and_is_idempotent(bapp: Flask, tmp_path: Path) -> None:
    path = tmp_path / "members.csv"
    path.write_text(CSV, encoding="utf-8")
    runner = bapp.test_cli_runner()
    first = runner.invoke(args=["members", "import", str(path), "--coop", "demo"])
    assert first.exit_code == 0, first.output
    assert "4 added, 0 updated, 0 unchanged, 4 rejected, 1 warning" in first.output
    for expected in ("line 4: not a valid number: '123'",
                     "line 5: warning: language 'xx' not understood: French, the cooperative's",
                     "line 6: unknown role 'chief'", "line 7: +212612345678 already on line 2",
                     "line 8: more columns than the header"):
        assert expected in first.output
    with bapp.app_context(), get_db(bapp).session() as session:
        fatima = session.scalar(select(Member).where(Member.phone == "+212612345678"))
        assert (fatima.name, fatima.role, sorted(g.name for g in fatima.groups)) == (
            "Fatima", "coordinator", ["Aït Baha", "argan"])
        hassan = session.scalar(select(Member).where(Member.phone == "+212712345683"))
        assert (hassan.language, hassan.role) == ("fr", "member")
        counts = (session.scalar(select(func.count()).select_from(Member)),
                  session.scalar(select(func.count()).select_from(Group)))
    second = runner.invoke(args=["members", "import", str(path), "--coop", "demo"])
    assert "0 added, 0 updated, 4 unchanged, 4 rejected" in second.output
    with bapp.app_context(), get_db(bapp).session() as session:
        assert counts == (session.scalar(select(func.count()).select_from(Member)),
                          session.scalar(select(func.count()).select_from(Group)))


# A language written as a word the SMS LANGUE command reads; a number abroad.
IMPORT_LANGUAGES = {
    "arabe": ("arabe", "ar", ""),
    "darija": ("Darija", "ar", ""),
    "arabic-in-arabic": ("العربية", "ar", ""),
    "tamazight": ("tamazight", "zgh", ""),
    "tachelhit": ("Tachelhit", "zgh", ""),
    "francais-with-cedilla": ("Français", "fr", ""),
    "anglais": ("anglais", "en", ""),
    "code": ("ZGH", "zgh", ""),
    "empty-is-the-default": ("", "fr", ""),
    "unreadable-falls-back-with-a-warning": ("klingon", "fr",
                                             "language 'klingon' not understood: French"),
}


@pytest.mark.parametrize("written,language,warning", IMPORT_LANGUAGES.values(),
                         ids=IMPORT_LANGUAGES.keys())
def test_members_import_reads_language_words(bapp: Flask, tmp_path: Path, written: str,
                                             language: str, warning: str) -> None:
    path = tmp_path / "m.csv"
    path.write_text(f"phone,name,language\n0612345699,Zahra,{written}\n", encoding="utf-8")
    result = bapp.test_cli_runner().invoke(args=["members", "import", str(path), "--coop",
                                                 "demo"])
    assert "1 added, 0 updated, 0 unchanged, 0 rejected" in result.output, result.output
    assert (f"line 2: warning: {warning}" in result.output) if warning else (
        "line 2: warning" not in result.output)
    with bapp.app_context(), get_db(bapp).session() as session:
        zahra = session.scalar(select(Member).where(Member.phone == "+212612345699"))
        assert zahra.language == language


def test_members_import_warns_of_a_number_abroad(bapp: Flask, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("phone,name,language\n+33612345678,Nadia,fr\n0612345698,Samira,ar\n",
                    encoding="utf-8")
    result = bapp.test_cli_runner().invoke(args=["members", "import", str(path), "--coop",
                                                 "demo"])
    assert "2 added, 0 updated, 0 unchanged, 0 rejected, 1 warning" in result.output
    assert ("line 2: warning: +33612345678 is a number of FR, not MA: each SMS to it is billed "
            "at the international rate") in result.output
    assert "line 3" not in result.output


def test_members_import_reads_a_french_spreadsheets_csv(bapp: Flask, tmp_path: Path) -> None:
    """A byte order mark, semicolons, titles in capitals: as a French spreadsheet saves it."""
    path = tmp_path / "m.csv"
    path.write_text("\ufeffPhone;Name;Language;Groups\n0612345697;Zahra;ar;argan|Aït Baha\n"
                    "0612345697;Zahra;ar;\n", encoding="utf-8")
    result = bapp.test_cli_runner().invoke(args=["members", "import", str(path), "--coop",
                                                 "demo"])
    assert "1 added, 0 updated, 0 unchanged, 1 rejected" in result.output, result.output
    assert "line 3: +212612345697 already on line 2" in result.output
    with bapp.app_context(), get_db(bapp).session() as session:
        zahra = session.scalar(select(Member).where(Member.phone == "+212612345697"))
        assert sorted(g.name for g in zahra.groups) == ["Aït Baha", "argan"]


def test_members_import_unknown_coop(bapp: Flask, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(CSV)
    result = bapp.test_cli_runner().invoke(args=["members", "import", str(path), "--coop", "x"])
    assert result.exit_code == 1
    assert "error: slug: no cooperative 'x' (cooperatives: demo)" in result.output


def test_dry_run_previews_and_sends_nothing(bapp: Flask) -> None:
    result = bapp.test_cli_runner().invoke(args=[
        "broadcast", "send", "--coop", "demo", "--message-fr", "Fête: prévoir des crêpes",
        "--message-ar", "فيضان الليلة", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "recipients: 4 (ar 1, fr 3)" in result.output
    assert "encoding: UCS-2, segments per message: 1" in result.output
    assert "estimated cost (console): 1 MAD (without fold 1 MAD, with fold 1 MAD)" in (
        result.output)
    assert "dry run: nothing sent" in result.output
    with bapp.app_context(), get_db(bapp).session() as session:
        assert session.scalar(select(func.count()).select_from(Broadcast)) == 0


def test_send_then_status(bapp: Flask) -> None:
    runner = bapp.test_cli_runner()
    result = runner.invoke(args=["broadcast", "send", "--coop", "demo", "--group", "amlou",
                                 "--message", "Amlou: {name}, prix 220 DH", "--urgent"])
    assert result.exit_code == 0, result.output
    assert "recipients: 2 (fr 2)" in result.output and "broadcast 1 queued" in result.output
    run_burst(bapp)
    status = runner.invoke(args=["broadcast", "status", "1", "--watch", "--json"])
    assert status.exit_code == 0, status.output
    # No terminal here: --watch prints its progress as lines.
    assert "broadcast 1: 2/2 finished (done)" in status.output
    data = json.loads(status.output.strip().splitlines()[-1])
    assert (data["status"], data["recipients"], data["delivered"], data["cost"]) == (
        "done", 2, 2, "0.5000")
    with bapp.app_context(), get_db(bapp).session() as session:
        texts = sorted(session.scalars(select(OutboundMessage.text)))
    assert texts == ["Amlou: Aicha Bouzid, prix 220 DH", "Amlou: Khadija Oubella, prix 220 DH"]
    assert "no broadcast 9" in runner.invoke(args=["broadcast", "status", "9"]).output


CONFIRM = {
    "terminal-asks-and-no-cancels": (True, [], "n\n", 1, "Send to 4 members? [y/N]", 0),
    "terminal-asks-and-yes-sends": (True, [], "y\n", 0, "broadcast 1 queued", 1),
    "script-refused-without-yes": (False, [], "", 2, "pass --yes to send from a script", 0),
    "script-with-yes-sends": (False, ["--yes"], "", 0, "broadcast 1 queued", 1),
}


@pytest.mark.parametrize("tty,extra,answer,code,said,made", CONFIRM.values(),
                         ids=CONFIRM.keys())
def test_send_to_many_asks_first(make_app: Any, monkeypatch: pytest.MonkeyPatch, tty: bool,
                                 extra: list[str], answer: str, code: int, said: str,
                                 made: int) -> None:
    from smsgateway.cli import broadcasts as cli_broadcasts

    app = app_with(make_app, sms={"provider": "console"}, broadcast={"confirm_above": 3})
    with app.app_context(), get_db(app).session() as session:
        seed_demo(session, app.config["SETTINGS"].defaults.region)
    # Whether stdin is a terminal: CliRunner's never is.
    monkeypatch.setattr(cli_broadcasts, "_interactive", lambda: tty)
    result = app.test_cli_runner().invoke(args=["broadcast", "send", "--coop", "demo",
                                                "--message", "Réunion demain", *extra],
                                          input=answer)
    assert result.exit_code == code, result.output
    assert said in result.output
    with app.app_context(), get_db(app).session() as session:
        assert session.scalar(select(func.count()).select_from(Broadcast)) == made


@pytest.mark.parametrize("args", [
    ["--coop", "demo"],
    ["--coop", "demo", "--message", "x", "--at", "tomorrow"],
    ["--coop", "nope", "--message", "x"],
], ids=["no-message", "bad-time", "unknown-coop"])
def test_send_refuses_bad_options(bapp: Flask, args: list[str]) -> None:
    result = bapp.test_cli_runner().invoke(args=["broadcast", "send", *args])
    assert result.exit_code == 2, result.output


def test_send_at_schedules(bapp: Flask) -> None:
    result = bapp.test_cli_runner().invoke(args=[
        "broadcast", "send", "--coop", "demo", "--message", "Réunion", "--at", "2099-01-05 09:30"])
    assert result.exit_code == 0, result.output
    assert "scheduled for 2099-01-05 09:30 (Africa/Casablanca)" in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Réunion à 10h demain", ("GSM-7", 20, 1)),
        ("Fête à 10h", ("UCS-2", 10, 1)),
        ("a" * 160, ("GSM-7", 160, 1)),
        ("a" * 161, ("GSM-7", 161, 2)),
        ("Prix: 5€ [promo]", ("GSM-7", 19, 1)),
        ("€" * 80, ("GSM-7", 160, 1)),
        ("€" * 81, ("GSM-7", 162, 2)),
        ("فيضان الليلة، احتموا", ("UCS-2", 20, 1)),
        ("ب" * 70, ("UCS-2", 70, 1)),
        ("ب" * 71, ("UCS-2", 71, 2)),
        ("Crue ce soir فيضان", ("UCS-2", 18, 1)),
        ("Attention 🌊", ("UCS-2", 12, 1)),
        ("🌊" * 35, ("UCS-2", 70, 1)),
        ("🌊" * 36, ("UCS-2", 72, 2)),
    ],
    ids=["french-gsm7", "french-circumflex", "160", "161", "extension", "ext-160", "ext-162",
         "arabic", "arabic-70", "arabic-71", "mixed", "emoji", "emoji-70", "emoji-72"],
)
def test_segments_command(text: str, expected: tuple[str, int, int]) -> None:
    from click.testing import CliRunner

    from smsgateway.cli.broadcasts import segments_command

    result = CliRunner().invoke(segments_command, [text])
    assert json.loads(result.output) == dict(zip(("encoding", "characters", "segments"),
                                                 expected, strict=True))


def test_segments_fold() -> None:
    from click.testing import CliRunner

    from smsgateway.cli.broadcasts import segments_command

    result = CliRunner().invoke(segments_command, ["--fold", "Fête « crêpes » — ça"])
    assert json.loads(result.output) == {"encoding": "GSM-7", "characters": 20, "segments": 1}
