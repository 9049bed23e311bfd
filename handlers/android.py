"""SMS Gateway for Android (SMSGate, capcom6): a SIM in a phone as a two-way SMS channel.

Plain ``requests`` rather than the project's ``android-sms-gateway`` client: the send call,
the webhook registration and the health probe are three small requests, and that client's
webhook parser requires ``phoneNumber``, which newer apps no longer send (``sender``).

Modes: ``local`` (the phone's own server, ``http://<phone>:8080``) and ``cloud`` (the
project's cloud or a private server, ``{host}/3rdparty/v1``), both with basic auth.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from .base import (
    DELIVERED,
    FAILED,
    MAX_BODY,
    SENT,
    ParseError,
    SendError,
    SendResult,
    SmsIn,
    SmsOut,
    StatusUpdate,
    clean,
    require,
)

NAME = "android"
CLOUD_URL = "https://api.sms-gate.app/3rdparty/v1"
#: A signed webhook older or newer than this (seconds) is refused: a replayed capture.
MAX_SKEW = 300
#: ``priority`` at or above 100 bypasses the phone's delays, limits and working hours.
URGENT_PRIORITY = 100
#: The events the gateway registers on a phone.
EVENTS = ("sms:received", "sms:sent", "sms:delivered", "sms:failed", "system:ping",
          "app:started")

#: Webhook event -> neutral status.
STATUS_MAP = {
    "sms:sent": SENT,
    "sms:delivered": DELIVERED,
    "sms:failed": FAILED,
    "sms:cancelled": FAILED,
}
#: HTTP answers to a send that a later try may fix.
RETRYABLE_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})


def message_id(reference: int) -> str:
    """The ``id`` sent with our message ``reference``: the phone answers 409 to a resend."""
    return f"sg-{reference}"


def sign(key: str, body: bytes, timestamp: str) -> str:
    """``X-Signature``: lower-case hex HMAC-SHA256 of the raw body followed by the timestamp."""
    return hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


def verify(key: str, body: bytes, timestamp: str | None, signature: str | None,
           now: float) -> str | None:
    """Why a webhook is refused (None: it is genuine and fresh)."""
    if not key:
        return "channel has no signing key"
    if not signature or not timestamp:
        return "missing X-Signature or X-Timestamp"
    try:
        stamp = int(timestamp)
    except ValueError:
        return "X-Timestamp is not Unix seconds"
    if abs(now - stamp) > MAX_SKEW:
        return "X-Timestamp more than 5 minutes away"
    if not hmac.compare_digest(sign(key, body, timestamp), signature.strip().lower()):
        return "bad X-Signature"
    return None


@dataclass(frozen=True)
class Health:
    """What a phone said of itself (``system:ping``, ``app:started`` or ``/health``)."""

    event: str
    device_id: str
    details: dict[str, Any] = field(default_factory=dict)


Event = SmsIn | StatusUpdate | Health


def received_key(device_id: str, message_id_: str, sender: str, received_at: str) -> str:
    """One received SMS, whatever the envelope: the phone's ``messageId`` is a 32-bit hash of
    the content, so two members' identical texts (or one member's text sent twice) share it;
    with the device, the sender and the time of receipt it names one SMS."""
    raw = "\x1f".join((device_id, message_id_, sender, received_at))
    return "rx-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def parse_event(body: bytes) -> Event:
    """Read a webhook envelope ``{id, webhookId, deviceId, event, payload}``."""
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ParseError("body is not JSON") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("payload"), dict):
        raise ParseError("missing field 'payload'")
    (event,) = require(envelope, "event")
    device = clean(envelope.get("deviceId"), 100).strip()
    payload: dict[str, Any] = envelope["payload"]
    if event in ("system:ping", "app:started"):
        return Health(event=event, device_id=device,
                      details={clean(k, 50): v for k, v in payload.items()
                               if isinstance(v, (str, int, float, bool, dict, list))})
    if event == "sms:received":
        (msg_id, received_at) = require(payload, "messageId", "receivedAt")
        # Older apps send ``phoneNumber``, newer ones ``sender``.
        sender = payload.get("sender") or payload.get("phoneNumber")
        (sender,) = require({"sender": sender}, "sender")
        if payload.get("message") is None:
            raise ParseError("missing field 'message'")
        return SmsIn(provider=NAME,
                     provider_message_id=received_key(device, msg_id, sender, received_at),
                     sender=sender, recipient=clean(payload.get("recipient"), 40),
                     text=clean(payload.get("message"), MAX_BODY),
                     raw={"deviceId": device, "messageId": msg_id, "receivedAt": received_at,
                          "simNumber": clean(payload.get("simNumber"), 5),
                          "envelope": clean(envelope.get("id"), 100)})
    if event in STATUS_MAP:
        (msg_id,) = require(payload, "messageId")
        reason = clean(payload.get("reason"), 200) or None
        return StatusUpdate(provider=NAME, provider_message_id=msg_id, status=STATUS_MAP[event],
                            provider_status=event, failure_reason=reason,
                            phone=clean(payload.get("recipient") or payload.get("phoneNumber"),
                                        40) or None,
                            part=_part(event, payload, envelope),
                            parts=_parts_count(payload) if event == "sms:sent" else None)
    raise ParseError(f"unknown event {event!r}")


def _part(event: str, payload: dict[str, Any], envelope: dict[str, Any]) -> str | None:
    """Which part an ``sms:delivered`` is on: the app emits one per part, each with its own
    ``deliveredAt``, and a retry repeats the payload (with a new envelope id)."""
    if event != "sms:delivered":
        return None
    at = clean(payload.get("deliveredAt"), 60)
    return f"{clean(payload.get('recipient') or payload.get('phoneNumber'), 40)}|{at}" if at \
        else "env|" + clean(envelope.get("id"), 100)


def _parts_count(payload: dict[str, Any]) -> int | None:
    """``partsCount`` of an ``sms:sent`` when it is a sane number (the phone's own split)."""
    value = payload.get("partsCount")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 255:
        return None
    return value


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class AndroidProvider:
    """Sends through one phone's SMSGate API, one message (one recipient) per request."""

    name = NAME
    max_recipients = 1

    def __init__(self, base_url: str, username: str, password: str, *, mode: str = "local",
                 sim_number: int | None = None, delivery_reports: bool = True,
                 timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.mode = mode
        self.auth = (username, password)
        self.sim_number = sim_number
        self.delivery_reports = delivery_reports
        self.timeout = timeout
        self._local = threading.local()

    def _http(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def body(self, message: SmsOut) -> dict[str, Any]:
        """The JSON of one send request."""
        body: dict[str, Any] = {
            "id": message_id(message.reference),
            "textMessage": {"text": message.text},
            "phoneNumbers": [message.to],
            "withDeliveryReport": self.delivery_reports,
        }
        if self.sim_number:
            body["simNumber"] = self.sim_number
        if message.valid_until is not None:
            body["validUntil"] = _rfc3339(message.valid_until)
        if message.urgent:
            body["priority"] = URGENT_PRIORITY
        return body

    def send(self, messages: Sequence[SmsOut]) -> list[SendResult]:
        """Send each message in turn; once the phone is unreachable the rest wait too."""
        results: list[SendResult] = []
        for index, message in enumerate(messages):
            result = self._send_one(message)
            results.append(result)
            if result.error is not None and result.error.code in ("unreachable", "timeout"):
                # Do not knock on a door that did not open: the round's rest goes back too.
                results.extend(SendResult(m.reference, error=result.error)
                               for m in messages[index + 1 :])
                break
        return results

    def _send_one(self, message: SmsOut) -> SendResult:
        reference = message.reference
        try:
            response = self._http().post(f"{self.base_url}/messages", json=self.body(message),
                                         auth=self.auth, timeout=self.timeout)
        except requests.Timeout:
            # It may have been queued on the phone: the resend carries the same id (409).
            return SendResult(reference, error=SendError("the phone did not answer in time",
                                                         retryable=True, code="timeout"))
        except requests.RequestException as exc:
            return SendResult(reference, error=SendError(
                f"phone unreachable: {type(exc).__name__}", retryable=True, code="unreachable"))
        body = _json(response)
        status = response.status_code
        if status in (200, 201, 202):
            state = str(body.get("state") or "Pending")
            if state == "Failed":
                reason = _recipient_error(body) or "the phone refused the message"
                return SendResult(reference, provider_status=state,
                                  error=SendError(reason, retryable=False, code="Failed"))
            return SendResult(reference, provider_message_id=str(body.get("id") or
                                                                 message_id(reference)),
                              status=SENT, provider_status=state)
        if status == 409:
            # This id was taken before (our earlier try whose answer was lost): sent once.
            return SendResult(reference, provider_message_id=message_id(reference),
                              status=SENT, provider_status="AlreadyAccepted")
        reason = str(body.get("error") or body.get("message") or f"HTTP {status}")[:200]
        retryable = status in RETRYABLE_HTTP or status >= 500
        return SendResult(reference, provider_status=str(status),
                          error=SendError(reason, retryable=retryable, code=str(status)))

    def register_webhook(self, url: str, event: str, hook_id: str) -> None:
        """Register (or replace, same ``hook_id``) the webhook of one event on the phone."""
        response = self._http().post(f"{self.base_url}/webhooks", auth=self.auth,
                                     json={"id": hook_id, "url": url, "event": event},
                                     timeout=self.timeout)
        if response.status_code not in (200, 201, 202):
            raise SendError(f"webhook registration answered HTTP {response.status_code}",
                            retryable=response.status_code >= 500,
                            code=str(response.status_code))

    @property
    def health_url(self) -> str | None:
        """What answers for the phone's health: its ``/health`` (local), the private server's
        ``/health/ready``, or nothing in cloud mode (the phone's ``system:ping`` is watched)."""
        if self.mode == "local":
            return f"{self.base_url}/health"
        if self.mode == "private":
            return self.base_url.rsplit("/3rdparty", 1)[0] + "/health/ready"
        return None

    def health(self) -> dict[str, Any]:
        """The answer of :attr:`health_url`; raises on failure (and in cloud mode)."""
        url = self.health_url
        if url is None:
            raise SendError("cloud mode has no health probe: the phone's system:ping is "
                            "watched", retryable=False, code="no-probe")
        response = self._http().get(url, timeout=self.timeout)
        body = _json(response)
        if response.status_code >= 500 and not body:
            raise SendError(f"health answered HTTP {response.status_code}", retryable=True)
        return body


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _recipient_error(body: Mapping[str, Any]) -> str | None:
    for recipient in body.get("recipients") or []:
        if isinstance(recipient, dict) and recipient.get("error"):
            return str(recipient["error"])[:200]
    return None
