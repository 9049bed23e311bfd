"""The web edge: backends down, proxies, cookies, the region, and what one number may cost."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from menus.catalog import packaged
from smsgateway.config import load_settings
from smsgateway.models import InboundMessage, Member, OutboundMessage, OutboundStatus
from smsgateway.services.members import add_member
from tests.sms_support import AICHA_FR, at_form, inbound, replies_to
from tests.ussd_support import URL as USSD_URL
from tests.ussd_support import Phone

ROOT = Path(__file__).resolve().parent.parent
SMS_URL = "/webhooks/africastalking/sms"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Redis down: USSD answers "busy, dial again", and works again once it is back ----------


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Any]:
    """A redis-server of this test's own on a free port, that the test stops and restarts."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed for this test"
    port = _free_port()
    processes: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        processes.append(subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=port).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError("own redis-server did not start")

    def stop() -> None:
        process = processes[-1]
        process.terminate()
        process.wait(timeout=30)

    start()
    yield type("OwnRedis", (), {"url": f"redis://127.0.0.1:{port}/0", "start": start,
                                "stop": stop})
    for process in processes:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def test_ussd_while_redis_is_down_says_busy_in_both_languages(
    make_app: Any, demo: Any, own_redis: Any
) -> None:
    client = make_app(redis_url=own_redis.url).test_client()
    phone = Phone(client, "+212600000004")
    assert phone.dial().startswith("CON ")
    own_redis.stop()
    body = phone.dial()  # Phone.post asserts 200 and a CON/END screen within its limit
    assert body.startswith("END ")
    busy = packaged().entries["busy"].texts
    assert busy["fr"] in body and busy["ar"] in body
    assert phone.press("1").startswith("END ")  # mid-session too
    own_redis.start()
    assert phone.dial().startswith("CON ")


# --- The database down: 503 with Retry-After, one log line, for webhooks and pages ----------


@pytest.mark.parametrize(("method", "path", "data"), [
    ("POST", SMS_URL, at_form(AICHA_FR, "STOCK")),
    ("POST", "/webhooks/twilio/sms", {"MessageSid": "SMdown", "AccountSid": "AC1",
                                      "From": AICHA_FR, "To": "+1500", "Body": "STOCK"}),
    ("POST", "/webhooks/africastalking/delivery", {"id": "ATXid_1", "status": "Success"}),
    ("POST", "/webhooks/twilio/status", {"MessageSid": "SM1", "MessageStatus": "sent"}),
    ("POST", "/webhooks/africastalking/ussd/events", {
        "sessionId": "s1", "phoneNumber": AICHA_FR, "status": "Success"}),
    ("GET", "/simulator/api/config", None),
], ids=["at-sms", "twilio-sms", "at-delivery", "twilio-status", "ussd-events", "page"])
def test_database_down_is_503_with_retry_after(
    make_app: Any, caplog: pytest.LogCaptureFixture, method: str, path: str,
    data: dict[str, str] | None
) -> None:
    app = make_app(database_url=f"postgresql+psycopg://nobody@127.0.0.1:{_free_port()}/x",
                   simulator={"enabled": True})
    with caplog.at_level(logging.INFO):
        response = app.test_client().open(path, method=method, data=data)
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert "Traceback" not in response.get_data(as_text=True)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None
    assert "database unavailable" in errors[0].getMessage()


# --- Behind a reverse proxy: X-Forwarded-For only from the configured number of proxies ----


@pytest.mark.parametrize(("proxies", "refused"), [(0, True), (1, False)],
                         ids=["no-proxy-trusted", "one-proxy"])
def test_forwarded_address_is_believed_only_from_trusted_proxies(
    make_app: Any, proxies: int, refused: bool
) -> None:
    app = make_app(server={"trusted_proxies": proxies},
                   limits={"webhook_requests_per_minute": 2})
    client = app.test_client()
    statuses = [client.post("/webhooks/twilio/status", data={"MessageSid": "SM1",
                                                             "MessageStatus": "sent"},
                            headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
                for i in range(4)]
    # Four clients behind one proxy: each its own address, or all the proxy's one.
    assert (429 in statuses) is refused
    assert statuses[:2] == [200, 200]


# --- Cookies: HttpOnly, SameSite, and Secure where the configuration says so ---------------


@pytest.mark.parametrize("secure", [False, True], ids=["development", "production"])
def test_session_cookie_flags(make_app: Any, secure: bool) -> None:
    client = make_app(server={"secure_cookies": secure}).test_client()
    response = client.get("/dashboard/login")
    [cookie] = response.headers.getlist("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert ("Secure" in cookie) is secure


def test_production_configuration_sends_secure_cookies() -> None:
    settings = load_settings(path=ROOT / "config.production.yaml", environ={})
    assert settings.server.secure_cookies is True
    assert load_settings(path=ROOT / "config.yaml", environ={}).server.secure_cookies is False


# --- Phone numbers are read in the configured region ---------------------------------------


def test_ussd_reads_the_callers_number_in_the_configured_region(
    make_app: Any, demo: Any, session: Session
) -> None:
    add_member(session, demo, "+33612345678", region="MA", name="Camille Martin", language="fr",
               pin="1357")
    session.commit()
    client = make_app(defaults={"region": "FR"}).test_client()
    # An aggregator that passes numbers on in national form.
    assert "Camille" in Phone(client, "0612345678").dial()


def test_dashboard_sign_in_reads_the_number_in_the_configured_region(
    make_app: Any, demo: Any, session: Session
) -> None:
    from smsgateway.services.accounts import create_account, operator
    from tests.test_dashboard import _login

    create_account(session, operator(), phone="+33612345678", name="Camille Martin",
                   role="coordinator", password="un mot de passe assez long", region="MA",
                   cooperative_id=demo.id)
    session.commit()
    client = make_app(defaults={"region": "FR"}).test_client()
    response = _login(client, "06 12 34 56 78", "un mot de passe assez long")
    assert response.status_code == 302 and response.location.endswith("/dashboard")


def test_member_import_reads_national_numbers_in_the_given_region(
    demo: Any, session: Session
) -> None:
    from smsgateway.cli.members_import import import_members

    rows = [{"phone": "06 12 34 56 78", "name": "Camille Martin", "language": "fr"}]
    assert import_members(session, demo, rows, "FR").added == 1
    assert session.scalar(select(Member.name).where(Member.phone == "+33612345678"))


# --- What one number may cost -------------------------------------------------------------


def _texts(session: Session, phone: str) -> list[InboundMessage]:
    session.expire_all()
    return list(session.scalars(select(InboundMessage).where(InboundMessage.sender == phone)
                                .order_by(InboundMessage.id)))


def test_a_flood_from_one_number_gets_its_replies_then_one_notice_then_silence(
    make_app: Any, demo: Any, session: Session
) -> None:
    client = make_app(limits={"replies_per_window": 3}).test_client()
    words = ["STOCK", "PRIX", "SOLDE", "AIDE", "STOCK ARGAN", "PRIX ARGAN", "SOLDE 2", "X"]
    for word in words:
        assert client.post(SMS_URL, data=at_form(AICHA_FR, word)).status_code == 200
    stored = _texts(session, AICHA_FR)
    assert [m.text for m in stored] == words  # every message is stored
    replies = [replies_to(session, m.id) for m in stored]
    assert [len(r) for r in replies] == [1, 1, 1, 1, 0, 0, 0, 0]
    assert "Trop de messages" in replies[3][0].text
    assert [m.error is None for m in stored] == [True] * 3 + [False] * 5
    assert "notice sent" in stored[3].error and "silenced" in stored[4].error


def test_the_same_text_again_and_again_is_not_answered(
    make_app: Any, demo: Any, session: Session
) -> None:
    client = make_app(limits={"replies_per_window": 100, "loop_repeats": 2}).test_client()
    for _ in range(5):
        assert client.post(SMS_URL, data=at_form(AICHA_FR, "Merci !")).status_code == 200
    stored = _texts(session, AICHA_FR)
    assert len(stored) == 5
    assert [len(replies_to(session, m.id)) for m in stored] == [1, 1, 0, 0, 0]
    assert all("again and again" in m.error for m in stored[2:])


def test_a_member_at_human_rates_is_never_throttled(
    app: Any, demo: Any, session: Session
) -> None:
    """The default limits: a few commands in a row by SMS, and a long USSD session."""
    client = app.test_client()
    for word in ["SOLDE", "STOCK", "PRIX", "AIDE"]:
        assert client.post(SMS_URL, data=at_form(AICHA_FR, word)).status_code == 200
    assert all(len(replies_to(session, m.id)) == 1 for m in _texts(session, AICHA_FR))
    phone = Phone(client, "+212600000004")
    for _ in range(10):  # ten sessions of two hops in a row: every hop gets its menu
        assert phone.dial().startswith("CON ")
        assert packaged().text("busy", "fr") not in phone.press("1")


#: What the reply limiter's and the reply turn's scripts call inside Redis.
_SCRIPTS_CALL = {"incr", "expire", "exists", "set", "del", "sadd", "hset", "rpush"}


def _scripts_run(client: redis.Redis) -> int:
    """Scripts run since the last CONFIG RESETSTAT; fails on any other command sent."""
    stats = client.info("commandstats")
    calls = {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()
             if name not in ("cmdstat_info", "cmdstat_config", "cmdstat_config|resetstat")}
    scripts = calls.pop("evalsha", 0) + calls.pop("eval", 0)
    assert set(calls) <= _SCRIPTS_CALL, calls
    return scripts


def test_a_question_is_judged_and_given_its_reply_turn_in_one_round_trip(
    app: Any, demo: Any, session: Session
) -> None:
    from smsgateway.jobs import TURN_KEY
    from smsgateway.redisconn import get_redis

    client = app.test_client()
    # The first request of an address takes its block of the webhook allowance.
    assert client.post(SMS_URL, data=at_form(AICHA_FR, "AIDE")).status_code == 200
    server = get_redis(app)
    server.config_resetstat()
    assert client.post(SMS_URL, data=at_form("+212600000002", "STOCK")).status_code == 200
    assert _scripts_run(server) == 1
    # That one script took the turn and enqueued its job.
    assert server.get(TURN_KEY.format(phone="+212600000002")) is not None


def test_a_silenced_numbers_question_has_its_reply_withdrawn_and_no_turn(
    make_app: Any, demo: Any, session: Session, run_jobs: Any
) -> None:
    from smsgateway.jobs import TURN_KEY
    from smsgateway.redisconn import get_redis

    app = make_app(limits={"replies_per_window": 1})
    client = app.test_client()
    assert client.post(SMS_URL, data=at_form(AICHA_FR, "STOCK")).status_code == 200
    run_jobs()  # her first reply is sent and her turn is over
    server = get_redis(app)
    assert server.get(TURN_KEY.format(phone=AICHA_FR)) is None
    for word in ("PRIX", "SOLDE"):  # the notice, then silence
        assert client.post(SMS_URL, data=at_form(AICHA_FR, word)).status_code == 200
    stored = _texts(session, AICHA_FR)
    replies = [replies_to(session, m.id) for m in stored]
    assert [len(r) for r in replies] == [1, 1, 0]
    assert "Trop de messages" in replies[1][0].text  # the notice, not the price list
    assert "notice sent" in stored[1].error and "silenced" in stored[2].error
    run_jobs()
    session.expire_all()
    sent = list(session.execute(select(OutboundMessage.text, OutboundMessage.status).where(
        OutboundMessage.to_phone == AICHA_FR).order_by(OutboundMessage.id)))
    assert [status for _, status in sent] == [OutboundStatus.DELIVERED] * 2  # the console
    assert "Trop de messages" in sent[1].text
    assert server.get(TURN_KEY.format(phone=AICHA_FR)) is None


def test_the_notice_exists_in_every_language() -> None:
    texts = packaged().entries["too_many"].texts
    assert set(texts) == {"fr", "ar", "zgh", "en"}
    assert all("{minutes}" in t for t in texts.values())


def test_one_address_over_the_webhook_limit_gets_429_and_nothing_is_stored(
    make_app: Any, demo: Any, session: Session
) -> None:
    client = make_app(limits={"webhook_requests_per_minute": 3}).test_client()
    statuses = [client.post(SMS_URL, data=at_form(AICHA_FR, f"SOLDE {i}")).status_code
                for i in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert session.scalar(select(func.count()).select_from(InboundMessage)) == 3
    # USSD hops count too, and are refused the same way.
    assert client.post(USSD_URL, data={"sessionId": "s", "phoneNumber": AICHA_FR,
                                       "text": ""}).status_code == 429


def test_webhook_limit_taken_in_blocks_never_lets_more_through_across_processes(
    app: Any,
) -> None:
    # Two web processes (two allowances) on one Redis: each takes blocks of limit // 1000
    # calls, and together they pass no more than the limit, nor refuse more than a block
    # each early.
    from smsgateway.redisconn import get_redis
    from smsgateway.webhooks.guards import SourceAllowance

    limit, minute = 5000, 123
    client = get_redis(app)
    processes = [SourceAllowance(), SourceAllowance()]
    passed = [processes[i % 2].take(client, "198.51.100.7", limit, minute)[0]
              for i in range(limit + 500)]
    assert limit - 2 * (limit // 1000 - 1) <= sum(passed) <= limit
    assert not any(passed[limit:])
    # Another address, and the next minute, start afresh.
    assert processes[0].take(client, "198.51.100.8", limit, minute) == (True, False)
    assert processes[1].take(client, "198.51.100.7", limit, minute + 1) == (True, False)


def test_limits_without_redis_let_messages_through(make_app: Any, demo: Any,
                                                   session: Session) -> None:
    client = make_app(redis_url=f"redis://127.0.0.1:{_free_port()}/0").test_client()
    form = at_form(AICHA_FR, "STOCK")
    assert client.post(SMS_URL, data=form).status_code == 200
    stored = inbound(session, "africastalking", form["id"])
    assert stored is not None and len(replies_to(session, stored.id)) == 1
    assert session.scalar(select(func.count()).select_from(OutboundMessage)) == 1
