"""SMS over SMPP end to end: send jobs -> link process -> fake SMSC on loopback, and back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from smpplib import consts
from sqlalchemy import select

from fakes.smsc import FakeSmsc
from smsgateway.db import get_db
from smsgateway.models import InboundMessage, OutboundMessage, OutboundStatus
from smsgateway.models.channels import Channel
from tests.smpp_support import (
    PROVIDER,
    config_for,
    queue_messages,
    rows,
    running_link,
    wait_for,
)

KHADIJA, AICHA = "+212600000002", "+212600000004"
ARABIC = "السلام عليكم، هذا تنبيه من التعاونية: فيضان متوقع غدا في الدوار. "


@pytest.fixture
def smsc() -> Iterator[FakeSmsc]:
    server = FakeSmsc().start()
    yield server
    server.stop()


def statuses(app: Flask, ids: list[int]) -> list[str]:
    return [str(r.status) for r in rows(app, ids)]


def test_a_message_is_submitted_its_id_recorded_and_its_receipt_applied(
        app: Flask, smsc: FakeSmsc, run_jobs: Any) -> None:
    with running_link(app, config_for(app, smsc)):
        [message_id] = queue_messages(app, [(AICHA, "Alerte: crue demain, rentrez les bêtes")])
        run_jobs()
        wait_for(lambda: statuses(app, [message_id]) == ["delivered"], what="the receipt")
    [row] = rows(app, [message_id])
    [submitted] = smsc.submitted
    # Answered in hex, receipted in decimal: the same message.
    assert row.provider_message_id == submitted.message_id
    assert row.provider == PROVIDER and row.provider_status == "DELIVRD"
    assert (submitted.destination, submitted.source) == (AICHA.lstrip("+"), "COOP")
    assert submitted.text == "Alerte: crue demain, rentrez les bêtes"
    assert submitted.data_coding == 8  # ê is not GSM-7
    assert smsc.binds == [("bind_transceiver", "coop", 0)]


def test_a_long_text_goes_in_parts_with_a_concatenation_header(
        app: Flask, smsc: FakeSmsc, run_jobs: Any) -> None:
    with running_link(app, config_for(app, smsc)):
        [message_id] = queue_messages(app, [(KHADIJA, ARABIC * 3)])
        run_jobs()
        wait_for(lambda: statuses(app, [message_id]) == ["delivered"], what="the receipt")
    [row] = rows(app, [message_id])
    assert row.segments == 3 == len(smsc.submitted)
    assert [s.concat.seq for s in smsc.submitted if s.concat] == [1, 2, 3]
    assert "".join(s.text for s in smsc.submitted) == ARABIC * 3


def test_throttling_slows_down_and_retries_other_errors_fail_with_the_status_name(
        app: Flask, smsc: FakeSmsc, run_jobs: Any) -> None:
    smsc.throttle_next = 3
    smsc.fail_numbers["212600000099"] = consts.SMPP_ESME_RINVDSTADR
    with running_link(app, config_for(app, smsc)) as running:
        ids = queue_messages(app, [(AICHA, "un"), (KHADIJA, "deux"), ("+212600000099", "x")])
        run_jobs()
        wait_for(lambda: statuses(app, ids) == ["delivered", "delivered", "failed"])
    failed = rows(app, ids)[2]
    assert failed.error_code == "ESME_RINVDSTADR"
    assert failed.failure_reason == "SMPP ESME_RINVDSTADR"
    assert sorted(s.text for s in smsc.submitted) == ["deux", "un"]
    assert running.link.rate < 500  # it slowed down


def test_a_wrong_password_is_refused_and_the_link_keeps_trying(
        app: Flask, smsc: FakeSmsc) -> None:
    with running_link(app, config_for(app, smsc, password="wrong")):
        wait_for(lambda: len(smsc.binds) >= 2, what="a second bind attempt")
    assert {status for _, _, status in smsc.binds} == {consts.SMPP_ESME_RBINDFAIL}


def test_a_dropped_connection_reconnects_and_nothing_is_lost(
        app: Flask, smsc: FakeSmsc, run_jobs: Any) -> None:
    smsc.receipts = False
    with running_link(app, config_for(app, smsc, throughput=50)) as running:
        ids = queue_messages(app, [(f"+2126000{n:05d}", f"message {n}") for n in range(300)])
        run_jobs()
        wait_for(lambda: len(smsc.submitted) >= 100, what="a third of them")
        assert len(smsc.submitted) < 300
        smsc.drop()
        wait_for(lambda: set(statuses(app, ids)) == {"sent"}, what="all of them sent")
    assert running.link.connects >= 2
    texts = [s.text for s in smsc.submitted]
    assert set(texts) == {f"message {n}" for n in range(300)}
    # Those in flight at the cut may go twice: never more than the window.
    assert len(texts) - 300 <= 10


def test_an_inbound_sms_is_stored_understood_and_answered_on_the_same_link(
        app: Flask, demo: Any, smsc: FakeSmsc, run_jobs: Any) -> None:
    with running_link(app, config_for(app, smsc)):
        wait_for(lambda: smsc.connections, what="the bind")
        smsc.send_sms("STOCK", source=AICHA.lstrip("+"))
        wait_for(lambda: _inbound(app), what="the stored SMS")
        run_jobs()
        wait_for(lambda: smsc.submitted, what="the reply")
    [stored] = _inbound(app)
    assert (stored.provider, stored.sender, stored.text) == (PROVIDER, AICHA, "STOCK")
    assert "Amlou" in smsc.submitted[0].text
    assert smsc.submitted[0].destination == AICHA.lstrip("+")
    assert smsc.deliver_answers[0] == consts.SMPP_ESME_ROK


def test_a_three_part_arabic_sms_is_reassembled_whatever_the_order(
        app: Flask, demo: Any, smsc: FakeSmsc) -> None:
    text = ARABIC * 3
    with running_link(app, config_for(app, smsc)):
        wait_for(lambda: smsc.connections, what="the bind")
        assert smsc.send_sms(text, source=KHADIJA.lstrip("+"), order=[2, 0, 1]) == 3
        wait_for(lambda: _inbound(app), what="the reassembled SMS")
    [stored] = _inbound(app)
    assert stored.text == text and stored.sender == KHADIJA


def test_parts_that_never_all_arrive_are_stored_after_the_time_limit(
        app: Flask, demo: Any, smsc: FakeSmsc) -> None:
    text = ARABIC * 3
    with running_link(app, config_for(app, smsc, reassembly_seconds=0.5)) as running:
        wait_for(lambda: smsc.connections, what="the bind")
        smsc.send_sms(text, source=KHADIJA.lstrip("+"), order=[0, 2])
        running.link.inbound.checked_at = 0  # look at the waiting parts on the next turn
        wait_for(lambda: _inbound(app), timeout=30, what="the incomplete SMS")
    [stored] = _inbound(app)
    assert stored.raw["incomplete"] and stored.text.startswith(ARABIC[:20])


def _inbound(app: Flask) -> list[InboundMessage]:
    with get_db(app).session() as session:
        found = list(session.scalars(select(InboundMessage)))
        session.expunge_all()
        return found


def test_rows_already_sent_are_not_submitted_again(app: Flask, smsc: FakeSmsc,
                                                   run_jobs: Any) -> None:
    config = config_for(app, smsc)
    ids = queue_messages(app, [(AICHA, "une fois")])
    run_jobs()
    with get_db(app).session() as session:
        session.get(OutboundMessage, ids[0]).status = OutboundStatus.SENT  # type: ignore
    with running_link(app, config) as running:
        wait_for(lambda: running.link.recorder.recorded == 0 and not running.link.ready
                 and smsc.connections)
        queue_messages(app, [(KHADIJA, "deux")])
        run_jobs()
        wait_for(lambda: smsc.submitted, what="the second message")
    assert [s.text for s in smsc.submitted] == ["deux"]


def test_an_idle_link_sends_enquire_link_and_one_left_unanswered_reconnects(
        app: Flask, smsc: FakeSmsc) -> None:
    with running_link(app, config_for(app, smsc, enquire_link_seconds=0.3)) as running:
        wait_for(lambda: smsc.enquire_links >= 2, what="keep-alives")
        assert running.link.connects == 1
        smsc.handle_enquire_link = False  # the SMSC hangs: no answer comes
        wait_for(lambda: running.link.connects >= 2, what="a new connection")


def test_transmitter_and_receiver_binds_when_the_channel_says_so(
        app: Flask, demo: Any, smsc: FakeSmsc, run_jobs: Any) -> None:
    with running_link(app, config_for(app, smsc, bind="transmitter+receiver")):
        [message_id] = queue_messages(app, [(AICHA, "deux liens")])
        run_jobs()
        wait_for(lambda: statuses(app, [message_id]) == ["delivered"], what="the receipt")
    assert [name for name, _, _ in smsc.binds] == ["bind_transmitter", "bind_receiver"]


def test_a_message_handed_over_twice_is_submitted_once(app: Flask, smsc: FakeSmsc,
                                                       run_jobs: Any) -> None:
    # The sweep took back rows whose link was down; a new job handed them over again.
    from handlers.base import SmsOut
    from smsgateway.redisconn import get_redis
    from smsgateway.smpp.handover import HandoverProvider

    config = config_for(app, smsc)
    ids = queue_messages(app, [(AICHA, "une seule fois")])
    run_jobs()
    HandoverProvider(config, get_redis(app)).send([SmsOut(ids[0], AICHA, "une seule fois")])
    with running_link(app, config) as running:
        wait_for(lambda: statuses(app, ids) == ["delivered"], what="the receipt")
        wait_for(lambda: not running.link.active, what="both copies acknowledged")
    assert [s.text for s in smsc.submitted] == ["une seule fois"]


def test_the_sweep_leaves_handed_over_rows_to_the_link(app: Flask, smsc: FakeSmsc,
                                                       run_jobs: Any) -> None:
    from datetime import timedelta

    from smsgateway.db import utcnow
    from smsgateway.redisconn import get_redis
    from smsgateway.sweep import sweep

    config_for(app, smsc)
    ids = queue_messages(app, [(AICHA, "patience")])
    run_jobs()
    later = utcnow() + timedelta(hours=2)
    assert sweep(app.config["SETTINGS"], get_redis(app), get_db(app), now=later) == {
        "reclaimed": 0, "requeued": 0}
    assert statuses(app, ids) == ["sending"]


def test_rows_whose_stream_was_lost_are_handed_over_again(
        app: Flask, smsc: FakeSmsc, run_jobs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from smsgateway.redisconn import get_redis
    from smsgateway.smpp import record
    from smsgateway.smpp.handover import stream_key

    config_for(app, smsc)
    ids = queue_messages(app, [(AICHA, "retrouvé")])
    run_jobs()
    get_redis(app).delete(stream_key("iam"))  # Redis lost it
    monkeypatch.setattr(record, "RECOVER_SECONDS", 0.0)
    with running_link(app, config_for(app, smsc)):
        wait_for(lambda: statuses(app, ids) == ["delivered"], what="the receipt")
    assert [s.text for s in smsc.submitted] == ["retrouvé"]


def _channel(app: Flask) -> Channel:
    with get_db(app).session() as session:
        channel = session.scalar(select(Channel).where(Channel.name == "iam"))
        assert channel is not None
        session.expunge(channel)
        return channel


def test_a_bound_link_shows_its_state_on_its_channel_like_a_phone(
        app: Flask, smsc: FakeSmsc, run_jobs: Any) -> None:
    smsc.throttle_next = 2
    with running_link(app, config_for(app, smsc, enquire_link_seconds=1)) as running:
        running.link.reporter.every = 0.1
        [message_id] = queue_messages(app, [(AICHA, "un")])
        run_jobs()
        wait_for(lambda: statuses(app, [message_id]) == ["delivered"], what="the receipt")
        wait_for(lambda: _channel(app).health.get("enquire_link_answered"),
                 what="an enquire_link answered")
        channel = _channel(app)
        readyz = app.test_client().get("/readyz").get_json()
        listed = app.test_cli_runner().invoke(args=["channels", "list"]).output
    assert str(channel.state) == "active" and channel.last_seen is not None
    health = channel.health
    assert health["bound"] is True and health["event"] == "smpp"
    assert (health["window"], health["error"]) == (10, None)
    assert 0 <= health["window_used"] <= 10
    assert isinstance(health["throttled"], bool)
    [record] = [r for r in readyz["channels"]["records"] if r["name"] == "iam"]
    assert record["state"] == "active" and record["health"]["bound"] is True
    assert "bound=True" in listed and "never" not in listed.split("iam", 1)[1].splitlines()[0]


def test_a_link_that_cannot_bind_shows_as_down_and_comes_back_when_it_binds(
        app: Flask, smsc: FakeSmsc) -> None:
    with running_link(app, config_for(app, smsc, password="wrong")):
        wait_for(lambda: str(_channel(app).state) == "down", what="the channel down")
    down = _channel(app)
    assert down.health["bound"] is False and down.health["error"] == "ESME_RBINDFAIL"
    with running_link(app, config_for(app, smsc)):
        wait_for(lambda: str(_channel(app).state) == "active", what="the channel back")
    back = _channel(app)
    assert back.health["bound"] is True and back.health["error"] is None


def test_a_stopped_link_goes_silent_is_marked_down_and_comes_back_when_it_runs_again(
        app: Flask, smsc: FakeSmsc, signed_in: Any) -> None:
    from datetime import timedelta

    from smsgateway.redisconn import get_redis
    from smsgateway.services import channel_health, routing

    settings = app.config["SETTINGS"]
    with running_link(app, config_for(app, smsc)):
        wait_for(lambda: _channel(app).health.get("bound") is True, what="the link bound")
    # The process stopped (killed, or hung): nothing writes the channel any more. Its last
    # word is older than the silence time once that time has passed.
    with get_db(app).session() as session:
        channel = session.scalar(select(Channel).where(Channel.name == "iam"))
        assert channel is not None and str(channel.state) == "active"
        channel.last_seen -= timedelta(seconds=settings.channels.silent_after_seconds + 1)
        session.commit()
        channel_id = channel.id
    with app.app_context():
        assert channel_health.watch(settings, get_redis(app), get_db(app)) == [channel_id]
        with get_db(app).session() as session:
            assert channel_id not in [c.id for c in routing.pool(session, settings, None)]
        readyz = app.test_client().get("/readyz").get_json()
        listed = app.test_cli_runner().invoke(args=["channels", "list"]).output
    [record] = [r for r in readyz["channels"]["records"] if r["name"] == "iam"]
    assert record["state"] == "down"
    assert "down" in listed.split("iam", 1)[1].splitlines()[0]
    page = signed_in.get("/dashboard/channels").get_data(as_text=True)
    start = page.index(f'id="channel-{channel_id}"')
    assert "Hors ligne" in page[start:page.index("</tr>", start)]
    with running_link(app, config_for(app, smsc)):
        wait_for(lambda: str(_channel(app).state) == "active", what="the link back")
    with app.app_context(), get_db(app).session() as session:
        assert channel_id in [c.id for c in routing.pool(session, settings, None)]
