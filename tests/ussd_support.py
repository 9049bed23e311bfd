"""Dialling the USSD webhook like a phone: cumulative ``text``, one sessionId per call."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from flask.testing import FlaskClient

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
