"""The phone's side of SMS Gateway for Android (SMSGate): its send API and its webhook events.

One home for the wire format as the app speaks it (see /work/shared/channels.md): the
simulator answers the gateway's send requests with it, and so does the tests' fake phone
(``tests/fakes/smsgate.py``). Pure: no I/O, no clock but :func:`now`.

The signature is computed here with :mod:`hmac` directly, not with
:func:`handlers.android.sign`: the phone's side stays an independent reading of the format,
so a mistake in the gateway's checker cannot hide behind the same mistake in the phone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from menus.encoding import measure

#: The app reports times in the phone's own zone, with its offset (Morocco: UTC+1).
MOROCCO = timezone(timedelta(hours=1))
#: The local server's fixed user name (the app shows the password beside it).
LOCAL_USERNAME = "sms"
#: A reply and its HTTP status.
Answer = tuple[int, Any]
UNAUTHORIZED: Answer = (401, {"message": "Unauthorized"})
NOT_FOUND: Answer = (404, {"message": "Not Found"})


@dataclass(frozen=True)
class SendRequest:
    """One valid ``POST /messages`` body."""

    id: str | None
    text: str
    numbers: list[str]
    sim_number: int
    delivery_report: bool


def now(later_ms: int = 0) -> str:
    """A phone timestamp: local time with its offset, to the millisecond."""
    moment = datetime.now(MOROCCO) + timedelta(milliseconds=later_ms)
    return moment.isoformat(timespec="milliseconds")


def authorized(header: str | None, username: str, password: str) -> bool:
    """Whether an ``Authorization`` header carries this basic-auth user and password."""
    if not header or not password:
        return False
    expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    return hmac.compare_digest(header.encode(), expected.encode())


def read_send(body: Any) -> SendRequest | Answer:
    """The send request in ``body``, or the app's 400 answer to it."""
    if not isinstance(body, dict):
        return 400, {"message": "invalid JSON"}
    message = body.get("textMessage")
    text = message.get("text") if isinstance(message, dict) else None
    numbers = body.get("phoneNumbers")
    if not text or not isinstance(text, str) or not isinstance(numbers, list) or not numbers \
            or not all(isinstance(n, str) and n for n in numbers):
        return 400, {"message": "textMessage.text and phoneNumbers are required"}
    if len(set(numbers)) != len(numbers):
        return 400, {"message": "phoneNumbers must be unique"}
    sim = body.get("simNumber")
    given = body.get("id")
    return SendRequest(id=str(given) if given else None, text=text, numbers=list(numbers),
                       sim_number=sim if isinstance(sim, int) and sim > 0 else 1,
                       delivery_report=body.get("withDeliveryReport", True) is not False)


def new_id() -> str:
    """The id the app gives a message sent without one."""
    return uuid.uuid4().hex


def conflict(message_id: str) -> Answer:
    """The answer to a reused ``id``: the app keeps one message per id on a device."""
    return 409, {"message": f"message with id {message_id} already exists"}


def state(message_id: str, device_id: str, numbers: list[str], current: str,
          states: dict[str, str]) -> dict[str, Any]:
    """A message's state, as ``POST /messages`` (202) and ``GET /messages/{id}`` give it."""
    return {"id": message_id, "deviceId": device_id, "state": current, "isHashed": False,
            "isEncrypted": False,
            "recipients": [{"phoneNumber": n, "state": current, "error": None}
                           for n in numbers],
            "states": states}


def accepted(request: SendRequest, message_id: str, device_id: str) -> Answer:
    """The 202 answer to a request taken into the phone's queue."""
    return 202, state(message_id, device_id, request.numbers, "Pending", {"Pending": now()})


def status_events(request: SendRequest, message_id: str, sender: str
                  ) -> list[tuple[str, dict[str, Any]]]:
    """What the phone reports of a message it sent: per recipient ``sms:sent`` (with its own
    split, ``partsCount``), then one ``sms:delivered`` per part, each at a moment of its own."""
    parts = measure(request.text).segments
    events: list[tuple[str, dict[str, Any]]] = []
    for number in request.numbers:
        base = {"messageId": message_id, "sender": sender, "recipient": number,
                "simNumber": request.sim_number}
        events.append(("sms:sent", {**base, "partsCount": parts, "sentAt": now()}))
        if request.delivery_report:
            events += [("sms:delivered", {**base, "deliveredAt": now(part)})
                       for part in range(parts)]
    return events


def envelope(event: str, payload: dict[str, Any], device_id: str,
             webhook_id: str | None = None) -> bytes:
    """The raw body of one emission: a fresh envelope ``id`` each time, retries included."""
    return json.dumps({"id": uuid.uuid4().hex, "webhookId": webhook_id or f"hook-{event}",
                       "deviceId": device_id, "event": event, "payload": payload}).encode()


def signed(key: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers the app adds to a webhook: hex HMAC-SHA256 of body then timestamp."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = hmac.new(key.encode(), body + stamp.encode(), hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Signature": signature, "X-Timestamp": stamp}


def local_health(battery: int = 87) -> dict[str, Any]:
    """The local server's ``GET /health`` (answered without auth)."""
    return {"status": "pass", "version": "1.40.0", "checks": {
        "battery:level": {"observedValue": battery, "status": "pass"},
        "connection:status": {"observedValue": 1, "status": "pass"},
        "messages:failed": {"observedValue": 0, "status": "pass"}}}
