"""Twilio: inbound SMS, status callbacks, signatures, TwiML replies, and sending.

Twilio has no USSD, and takes one recipient per request; sends run a few at a time so that a
batch is not held up by one slow round trip.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal, InvalidOperation
from xml.sax.saxutils import escape

import requests
from twilio.request_validator import RequestValidator

from .base import (
    DELIVERED,
    FAILED,
    MAX_BODY,
    QUEUED,
    SENDING,
    SENT,
    SendError,
    SendResult,
    SmsIn,
    SmsOut,
    StatusUpdate,
    clean,
    require,
    require_present,
)

NAME = "twilio"
PRODUCTION_URL = "https://api.twilio.com"

#: MessageStatus -> neutral status.
STATUS_MAP = {
    "accepted": QUEUED,
    "scheduled": QUEUED,
    "queued": QUEUED,
    "sending": SENDING,
    "sent": SENT,
    "delivered": DELIVERED,
    "read": DELIVERED,
    "undelivered": FAILED,
    "failed": FAILED,
    "canceled": FAILED,
}

OPT_OUT_CODE = 21610
#: Error codes that no retry can fix (invalid or landline number, unreachable region...).
PERMANENT_CODES = frozenset({21211, 21214, 21408, 21601, 21612, 21614, 21606, 30003, 30005,
                             30006, 30007, OPT_OUT_CODE})
#: Error codes that mean "later": rate limits and queue overflow.
RETRYABLE_CODES = frozenset({20429, 30001, 20500, 20503})


def validate_signature(auth_token: str, url: str, params: Mapping[str, str],
                       signature: str | None) -> bool:
    """Whether ``X-Twilio-Signature`` matches the URL Twilio called and the POST fields."""
    if not signature:
        return False
    return RequestValidator(auth_token).validate(url, dict(params), signature)


def parse_sms(form: Mapping[str, str]) -> SmsIn:
    """Read an inbound SMS webhook (``MessageSid`` is unique: duplicates share it)."""
    sid, sender, recipient, _account = require(form, "MessageSid", "From", "To", "AccountSid")
    require_present(form, "Body")
    return SmsIn(provider=NAME, provider_message_id=sid, sender=sender, recipient=recipient,
                 text=clean(form.get("Body"), MAX_BODY),
                 raw={clean(k, 100): clean(v) for k, v in form.items()})


def parse_status(form: Mapping[str, str]) -> StatusUpdate:
    """Read a status callback."""
    sid, word = require(form, "MessageSid", "MessageStatus")
    code = clean(form.get("ErrorCode"), 20).strip() or None
    return StatusUpdate(
        provider=NAME,
        provider_message_id=sid,
        status=STATUS_MAP.get(word.lower(), ""),
        provider_status=word,
        failure_reason=f"error {code}" if code else None,
        error_code=code,
        opted_out=code == str(OPT_OUT_CODE),
    )


def render_twiml(texts: Sequence[str]) -> str:
    """A TwiML answer sending each text back; none -> an empty ``<Response/>``."""
    body = "".join(f"<Message>{escape(text)}</Message>" for text in texts)
    head = '<?xml version="1.0" encoding="UTF-8"?>'
    return f"{head}<Response>{body}</Response>" if body else f"{head}<Response/>"


def classify_error(http_status: int, code: int | None, message: str) -> SendError:
    """Turn Twilio's error answer into a SendError that says whether a retry can help."""
    reason = f"{message} ({code})" if code else message
    text_code = str(code or http_status)
    if code == OPT_OUT_CODE:
        return SendError(reason, retryable=False, code=text_code, opted_out=True)
    if code in PERMANENT_CODES:
        return SendError(reason, retryable=False, code=text_code)
    if code in RETRYABLE_CODES or http_status == 429 or http_status >= 500:
        return SendError(reason, retryable=True, code=text_code)
    return SendError(reason, retryable=False, code=text_code)


def _price(value: object) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return abs(Decimal(str(value)))
    except InvalidOperation:
        return None


class TwilioProvider:
    """Sends SMS through Twilio's Messages API, one recipient per request."""

    name = NAME
    max_recipients = 1

    def __init__(self, account_sid: str, auth_token: str, sender: str | None,
                 base_url: str = PRODUCTION_URL, status_callback: str | None = None,
                 timeout: float = 10.0, concurrency: int = 8) -> None:
        self.auth = (account_sid, auth_token)
        self.sender = sender
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.status_callback = status_callback
        self.timeout = timeout
        self.concurrency = concurrency
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None

    def _http(self) -> requests.Session:
        # One keep-alive session per sending thread.
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def send(self, messages: Sequence[SmsOut]) -> list[SendResult]:
        """Send each message; failures come back per message, never raised."""
        if len(messages) <= 1 or self.concurrency <= 1:
            return [self._send_one(m) for m in messages]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="twilio-send")
        return list(self._pool.map(self._send_one, messages))

    def _send_one(self, message: SmsOut) -> SendResult:
        form = {"To": message.to, "Body": message.text}
        sender = message.sender or self.sender
        if sender and sender.startswith("MG"):
            form["MessagingServiceSid"] = sender
        elif sender:
            form["From"] = sender
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        try:
            response = self._http().post(self.url, data=form, auth=self.auth,
                                         timeout=self.timeout)
        except requests.Timeout:
            return SendResult(message.reference,
                              error=SendError("timed out", retryable=True, code="timeout"))
        except requests.RequestException as exc:
            return SendResult(message.reference, error=SendError(
                f"connection failed: {type(exc).__name__}", retryable=True, code="connection"))
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code in (200, 201) and body.get("sid"):
            return SendResult(message.reference, provider_message_id=str(body["sid"]),
                              status=SENT, provider_status=str(body.get("status") or "queued"),
                              cost=_price(body.get("price")))
        code = body.get("code") if isinstance(body.get("code"), int) else None
        error = classify_error(response.status_code, code,
                               str(body.get("message") or f"HTTP {response.status_code}"))
        return SendResult(message.reference, provider_status=str(response.status_code),
                          error=error)
