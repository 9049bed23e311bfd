"""Whatever a network or a phone sends, the USSD webhook answers 200 with CON/END in limits."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ussd_support import URL, check_screen

DEMO_PHONES = [f"+21260000000{i}" for i in range(1, 5)]
# Keys a keypad sends, plus everything else a buggy aggregator might.
KEYPAD = st.text(alphabet="0123456789*#", max_size=40)
ANY_TEXT = st.text(max_size=300)
INPUTS = st.one_of(KEYPAD, ANY_TEXT, st.sampled_from(["", "1", "2*1*5*1234", "00", "98", "0"]))
PHONES = st.one_of(st.sampled_from([*DEMO_PHONES, "+212611223344"]), ANY_TEXT)
SESSION_IDS = st.one_of(st.sampled_from(["ATUid_1", "ATUid_2"]), ANY_TEXT.filter(bool))

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(text=INPUTS, phone=PHONES, session_id=SESSION_IDS)
def test_any_hop_gets_a_screen_within_limits(client: FlaskClient, demo: Any, text: str,
                                             phone: str, session_id: str) -> None:
    response = client.post(URL, data={"sessionId": session_id, "phoneNumber": phone,
                                      "serviceCode": "*384*123#", "text": text})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    check_screen(response.get_data(as_text=True))


@PROPERTY_SETTINGS
@given(hops=st.lists(INPUTS, min_size=1, max_size=8), phone=st.sampled_from(DEMO_PHONES))
def test_any_sequence_of_hops_in_one_session_stays_within_limits(
        client: FlaskClient, demo: Any, hops: list[str], phone: str) -> None:
    typed: list[str] = []
    for index, value in enumerate(["", *hops]):
        if index:
            typed.append(value)
        response = client.post(URL, data={"sessionId": f"prop-{id(hops)}", "phoneNumber": phone,
                                          "text": "*".join(typed)})
        assert response.status_code == 200
        check_screen(response.get_data(as_text=True))
