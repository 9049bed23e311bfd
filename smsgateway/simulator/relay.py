"""The simulator plays Africa's Talking: it posts the provider's real form fields to the webhooks.

The relay runs inside the gateway's own WSGI stack (no socket), so it works under any number of
gunicorn workers and threads, and it adds ``?secret=`` server-side: the browser never sees it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from werkzeug.test import Client

from menus.encoding import encoding_of, length, screen_limit

USSD_PATH = "/webhooks/africastalking/ussd"
USSD_EVENTS_PATH = "/webhooks/africastalking/ussd/events"
SMS_PATH = "/webhooks/africastalking/sms"
#: What Africa's Talking's own sandbox simulator sends as the network code.
NETWORK_CODE = "99999"
#: The short code members text when no sender is configured.
DEFAULT_SHORT_CODE = "20880"
#: A screen above this share of its limit is flagged to the menu author.
NEAR_LIMIT = 0.9
SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Screen:
    """What the phone shows after a hop, with the figures a menu author needs."""

    http_status: int
    kind: str  # CON, END, or ERROR when the body is no valid USSD answer
    text: str
    encoding: str
    length: int
    limit: int

    @property
    def level(self) -> str:
        """``ok``, ``near`` (above 90% of the limit) or ``over``."""
        if self.length > self.limit:
            return "over"
        return "near" if self.length > NEAR_LIMIT * self.limit else "ok"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {"status": self.http_status, "kind": self.kind, "text": self.text,
                "encoding": self.encoding, "length": self.length, "limit": self.limit,
                "level": self.level}


def read_screen(http_status: int, body: str) -> Screen:
    """Read a USSD callback answer as a phone would: ``CON``/``END`` or a dropped session."""
    if http_status == 200 and body.startswith(("CON ", "END ")):
        kind, text = body[:3], body[4:]
    elif http_status == 200 and body in ("CON", "END"):
        kind, text = body, ""
    else:
        kind, text = "ERROR", body
    encoding = encoding_of(text)
    return Screen(http_status, kind, text, encoding, length(text, encoding), screen_limit(text))


def new_session_id() -> str:
    """A session id shaped like the provider's."""
    return f"ATUid_sim{uuid.uuid4().hex}"


def _post(app: Flask, path: str, form: dict[str, str]) -> tuple[int, str]:
    secret = app.config["SETTINGS"].africastalking.webhook_secret
    query = {"secret": secret} if secret else {}
    # A fresh app context: the webhook gets its own g and database session, closed after it.
    with app.app_context():
        response = Client(app).post(
            path, query_string=query, data=form,
            content_type="application/x-www-form-urlencoded",
            headers={"User-Agent": "smsgateway-simulator"},
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        )
        try:
            return response.status_code, response.get_data(as_text=True)
        finally:
            response.close()


def ussd_hop(app: Flask, *, phone: str, session_id: str, text: str) -> Screen:
    """Send one USSD hop (``text`` is the whole history joined with ``*``)."""
    service_code = app.config["SETTINGS"].ussd.service_code
    status, body = _post(app, USSD_PATH, {
        "sessionId": session_id, "serviceCode": service_code, "phoneNumber": phone,
        "networkCode": NETWORK_CODE, "text": text,
    })
    return read_screen(status, body)


def ussd_ended(app: Flask, *, phone: str, session_id: str, status: str, hops: int,
               last_input: str, last_response: str, duration_ms: int) -> int:
    """Send the end-of-session notification; return the HTTP status."""
    settings = app.config["SETTINGS"]
    http_status, _ = _post(app, USSD_EVENTS_PATH, {
        "date": _now(), "sessionId": session_id, "serviceCode": settings.ussd.service_code,
        "networkCode": NETWORK_CODE, "phoneNumber": phone, "status": status, "cost": "0",
        "durationInMillis": str(max(0, duration_ms)), "hopsCount": str(max(0, hops)),
        "input": last_input, "lastAppResponse": last_response, "errorMessage": "",
    })
    return http_status


def inbound_sms(app: Flask, *, phone: str, text: str) -> tuple[int, str, str]:
    """Deliver an SMS from ``phone`` to the gateway; return status, body and message id."""
    settings = app.config["SETTINGS"]
    message_id = f"sim-{uuid.uuid4()}"
    status, body = _post(app, SMS_PATH, {
        "from": phone, "to": settings.africastalking.sender or DEFAULT_SHORT_CODE,
        "text": text, "date": _now(), "id": message_id, "networkCode": NETWORK_CODE,
    })
    return status, body, message_id


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
