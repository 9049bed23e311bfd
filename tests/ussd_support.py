"""Dialling the USSD webhook like a phone: cumulative ``text``, one sessionId per call."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from flask.testing import FlaskClient

from fakes.smsc import FakeSmsc
from menus.encoding import length, screen_limit

URL = "/webhooks/africastalking/ussd"
_ids = itertools.count(1)


def check_screen(body: str) -> str:
    """Assert ``body`` is a CON/END answer within its encoding's limit; return the screen."""
    assert body.startswith(("CON ", "END ")), body
    screen = body[4:]
    assert length(screen) <= screen_limit(screen), (length(screen), screen)
    return screen


@dataclass
class Phone:
    """One phone dialling the service code; each :meth:`dial` is a new session."""

    client: FlaskClient
    number: str
    session_id: str = ""
    inputs: list[str] = field(default_factory=list)

    def dial(self, text: str = "") -> str:
        """Start a session (``text`` non-empty for a dial string like *384*123*1#)."""
        self.session_id = f"ATUid_test_{next(_ids)}"
        self.inputs = [text] if text else []
        return self.post(text)

    def press(self, value: str) -> str:
        """Type ``value`` and send; returns the raw body (``CON ...``/``END ...``)."""
        self.inputs.append(value)
        return self.post("*".join(self.inputs))

    def post(self, text: str) -> str:
        """Send a hop with this exact cumulative text."""
        response = self.client.post(URL, data={
            "sessionId": self.session_id, "serviceCode": "*384*123#",
            "phoneNumber": self.number, "networkCode": "99999", "text": text})
        assert response.status_code == 200, response.data
        assert response.mimetype == "text/plain"
        body = response.get_data(as_text=True)
        check_screen(body)
        return body


_sessions = itertools.count(0x100)


@dataclass
class SmppPhone:
    """The same phone on an operator's network: each hop a USSD ``deliver_sm`` on the SMPP
    link, each screen the ``submit_sm`` that comes back (USSR request shown as ``CON``,
    PSSR response as ``END``), so the transcripts played over Africa's Talking run unchanged."""

    smsc: FakeSmsc
    number: str
    service_code: str = "*384*123#"
    ops: tuple[int, int, int, int] = (1, 18, 2, 17)  # begin, answer, continue, end
    session_field: str = "its_session_info"
    session: int = 0

    def dial(self, text: str = "") -> str:
        """Dial the service code (``text``: a dial string such as ``1`` for *384*123*1#)."""
        self.session = next(_sessions)
        code = self.service_code.rstrip("#") + (f"*{text}" if text else "") + "#"
        return self._hop(code, self.ops[0])

    def press(self, value: str) -> str:
        """Type ``value`` and send; returns ``CON ...`` or ``END ...``."""
        return self._hop(value, self.ops[1])

    def _hop(self, text: str, op: int) -> str:
        self.smsc.ussd(text, self.number.lstrip("+"), op, self.session, self.session_field)
        screen = self.smsc.ussd_screen(self.session)
        assert screen.ussd_op in self.ops[2:], screen
        assert screen.destination == self.number.lstrip("+")
        body = ("END " if screen.ussd_op == self.ops[3] else "CON ") + screen.text
        check_screen(body)
        return body
