"""USSD over SMPP: the dial transcripts of Africa's Talking, played on an SMPP link."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from fakes.smsc import FakeSmsc
from tests.smpp_support import config_for, running_link, wait_for
from tests.test_ussd import AICHA, KHADIJA, TRANSCRIPTS, coop  # noqa: F401 (the fixture)
from tests.ussd_support import SmppPhone


@pytest.fixture
def smsc() -> Iterator[FakeSmsc]:
    server = FakeSmsc().start()
    yield server
    server.stop()


@pytest.fixture
def link(app: Flask, smsc: FakeSmsc) -> Iterator[Any]:
    with running_link(app, config_for(app, smsc)) as running:
        wait_for(lambda: smsc.connections, what="the bind")
        yield running


def play(phone: SmppPhone, transcript: list[tuple[str, str]]) -> None:
    """Dial, then type each input; every answer must contain the expected fragment."""
    for index, (typed, expected) in enumerate(transcript):
        body = phone.dial(typed[1:]) if typed.startswith("#") else phone.press(typed)
        assert expected in body, f"step {index} ({typed!r}): {expected!r} not in {body!r}"


@pytest.mark.parametrize("number,transcript", TRANSCRIPTS.values(), ids=TRANSCRIPTS.keys())
def test_transcript_over_smpp(coop: Any, smsc: FakeSmsc, link: Any, number: str,  # noqa: F811
                              transcript: list[tuple[str, str]]) -> None:
    play(SmppPhone(smsc, number), transcript)


def test_the_screens_carry_the_session_and_the_op_codes(coop: Any, smsc: FakeSmsc,  # noqa: F811
                                                        link: Any) -> None:
    phone = SmppPhone(smsc, AICHA)
    smsc.ussd("*384*123#", AICHA.lstrip("+"), 1, 0x4242)
    screen = smsc.ussd_screen(0x4242)
    assert (screen.ussd_op, screen.session) == (2, 0x4242)
    assert screen.text.startswith("Bonjour Aicha") and screen.source == "384"
    smsc.ussd("2", AICHA.lstrip("+"), 18, 0x4242)
    assert "Huile d'argan" in smsc.ussd_screen(0x4242).text
    # That session was left half-way through a delivery: a new dial is a new session,
    # offered to continue it (a screen that only informs is not offered: issue 15).
    assert phone.dial().startswith("CON Reprendre")


def test_two_members_on_the_same_network_session_number_stay_apart(
        coop: Any, smsc: FakeSmsc, link: Any) -> None:  # noqa: F811
    aicha, khadija = SmppPhone(smsc, AICHA), SmppPhone(smsc, KHADIJA)
    aicha.dial()
    khadija.session = aicha.session
    khadija._hop("*384*123#", 1)
    assert "Huile" in aicha.press("1")
    assert "مستحقاتك" in khadija.press("3")


def test_an_answer_to_a_session_the_gateway_never_saw_ends_politely(
        coop: Any, smsc: FakeSmsc, link: Any) -> None:  # noqa: F811
    smsc.ussd("1", AICHA.lstrip("+"), 18, 0x777)
    screen = smsc.ussd_screen(0x777)
    assert screen.ussd_op == 17 and screen.text


def test_operators_op_codes_and_session_field_are_channel_settings(
        app: Flask, coop: Any, smsc: FakeSmsc) -> None:  # noqa: F811
    config = config_for(app, smsc, ussd_session_field="user_message_reference",
                        ussd_op_begin=1, ussd_op_answer=19, ussd_op_continue=3,
                        ussd_op_end=16)
    with running_link(app, config):
        wait_for(lambda: smsc.connections, what="the bind")
        phone = SmppPhone(smsc, AICHA, ops=(1, 19, 3, 16),
                          session_field="user_message_reference")
        play(phone, TRANSCRIPTS["fr-stock-back-prices-home"][1])
