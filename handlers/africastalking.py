"""Africa's Talking: USSD callbacks, inbound SMS, delivery reports, and sending.

Its Python SDK has no base-URL setting and reads JSON only for an exact Content-Type, so this
is a small client of our own for the one form POST it needs.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

import requests

from .base import (
    DELIVERED,
    EXPIRED,
    FAILED,
    MAX_BODY,
    SENT,
    ParseError,
    SendError,
    SendResult,
    SmsIn,
    SmsOut,
    StatusUpdate,
    UssdIn,
    UssdOut,
    clean,
    require,
    require_present,
)

NAME = "africastalking"
PRODUCTION_URL = "https://api.africastalking.com"
SANDBOX_URL = "https://api.sandbox.africastalking.com"
SEND_PATH = "/version1/messaging"
#: Recipients per request; the documented maximum is unverified, 100 is safely below it.
MAX_RECIPIENTS = 100

#: Delivery report status -> neutral status.
STATUS_MAP = {
    "Sent": SENT,
    "Submitted": SENT,
    "Buffered": SENT,
    "Success": DELIVERED,
    "Rejected": FAILED,
    "Failed": FAILED,
    "Expired": EXPIRED,
}

#: The end-of-session statuses.
SESSION_STATUSES = frozenset({"Success", "Incomplete", "Failed"})

#: How its callbacks write ``date``: ``2026-11-22 10:00:00``, or ISO 8601 with a ``T``,
#: milliseconds and a zone (``2026-11-22T10:00:00.000Z``).
_DATE_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})?$", re.ASCII)

#: Failure reasons that mean the subscriber refuses our messages.
OPT_OUT_REASONS = frozenset({"UserInBlackList", "UserInBlacklist"})

#: Per-recipient send statusCode -> (status word, accepted?, retryable?, opted out?).
SEND_STATUS_CODES: dict[int, tuple[str, bool, bool, bool]] = {
    100: ("Processed", True, False, False),
    101: ("Sent", True, False, False),
    102: ("Queued", True, False, False),
    401: ("RiskHold", False, False, False),
    402: ("InvalidSenderId", False, False, False),
    403: ("InvalidPhoneNumber", False, False, False),
    404: ("UnsupportedNumberType", False, False, False),
    405: ("InsufficientBalance", False, True, False),
    406: ("UserInBlacklist", False, False, True),
    407: ("CouldNotRoute", False, False, False),
    409: ("DoNotDisturbRejection", False, False, True),
    500: ("InternalServerError", False, True, False),
    501: ("GatewayError", False, True, False),
    502: ("RejectedByGateway", False, True, False),
}


@dataclass(frozen=True)
class UssdEvent:
    """The end-of-session notification."""

    session_id: str
    phone: str
    status: str
    hops: int | None
    duration_ms: int | None
    error_message: str | None
    raw: dict[str, str] = field(default_factory=dict)


def parse_ussd(form: Mapping[str, str]) -> UssdIn:
    """Read a USSD callback; ``text`` is the whole session's input joined with ``*``."""
    # A hop costs nothing: one without serviceCode or text still gets a screen (first hop).
    session_id, phone = require(form, "sessionId", "phoneNumber")
    return UssdIn(
        session_id=session_id,
        service_code=clean(form.get("serviceCode"), 40).strip(),
        phone=phone,
        network_code=clean(form.get("networkCode"), 20).strip(),
        text=clean(form.get("text"), 200).strip(),
    )


def render_ussd(out: UssdOut) -> str:
    """``CON`` keeps the session open for input; ``END`` closes it."""
    return ("END " if out.end else "CON ") + out.text


def _int_or_none(value: object) -> int | None:
    # Bounded: a 4000-digit "hopsCount" is no count (and no database integer holds it).
    text = str(value)
    if len(text) > 12:
        return None
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _check_date(value: str) -> None:
    if not _DATE_RE.match(value):
        raise ParseError("field 'date' is not a date Africa's Talking writes")
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ParseError("field 'date' is not a date") from None


def parse_ussd_event(form: Mapping[str, str]) -> UssdEvent:
    """Read an end-of-session notification."""
    session_id, phone, status = require(form, "sessionId", "phoneNumber", "status")
    if status not in SESSION_STATUSES:
        raise ParseError(f"unknown session status {status!r}")
    return UssdEvent(
        session_id=session_id,
        phone=phone,
        status=status,
        hops=_int_or_none(form.get("hopsCount")),
        duration_ms=_int_or_none(form.get("durationInMillis")),
        error_message=clean(form.get("errorMessage"), 300) or None,
        raw={clean(k, 100): clean(v) for k, v in form.items()},
    )


def parse_sms(form: Mapping[str, str]) -> SmsIn:
    """Read an inbound SMS callback (``id`` is unique: duplicates share it)."""
    message_id, sender, recipient, date = require(form, "id", "from", "to", "date")
    require_present(form, "text")
    _check_date(date)
    return SmsIn(
        provider=NAME,
        provider_message_id=message_id,
        sender=sender,
        recipient=recipient,
        text=clean(form.get("text"), MAX_BODY),
        raw={clean(k, 100): clean(v) for k, v in form.items()},
    )


def parse_delivery_report(form: Mapping[str, str]) -> StatusUpdate:
    """Read a delivery report; an unknown status word maps to no neutral status ("")."""
    message_id, word = require(form, "id", "status")
    reason = clean(form.get("failureReason"), 100) or None
    return StatusUpdate(
        provider=NAME,
        provider_message_id=message_id,
        status=STATUS_MAP.get(word, ""),
        provider_status=word,
        failure_reason=reason,
        error_code=reason,
        opted_out=reason in OPT_OUT_REASONS,
        phone=str(form.get("phoneNumber") or "").strip() or None,
    )


def parse_cost(value: object) -> Decimal | None:
    """``"MAD 0.2500"`` -> ``Decimal("0.2500")``; None when absent or unreadable."""
    if not value:
        return None
    try:
        return Decimal(str(value).split()[-1])
    except (InvalidOperation, IndexError):
        return None


def _request_error(exc: requests.RequestException) -> SendError:
    """A failed request as a SendError that says whether the provider may have taken it."""
    if isinstance(exc, requests.ConnectTimeout) or _never_connected(exc):
        return SendError(f"connection failed: {type(exc).__name__}", retryable=True,
                         code="connection")
    if isinstance(exc, requests.Timeout):
        # The body went out and no answer came: Africa's Talking may be sending it now.
        return SendError("timed out", retryable=True, code="timeout", maybe_sent=True)
    return SendError(f"connection lost: {type(exc).__name__}", retryable=True,
                     code="connection-lost", maybe_sent=True)


def _never_connected(exc: BaseException) -> bool:
    """Whether the error chain shows the connection was never made (nothing was sent)."""
    # NewConnectionError also covers a name that did not resolve (NameResolutionError).
    from urllib3.exceptions import NewConnectionError

    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        error = stack.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, NewConnectionError | ConnectionRefusedError):
            return True
        stack.extend([error.__cause__, error.__context__, getattr(error, "reason", None),
                      *(a for a in error.args if isinstance(a, BaseException))])
    return False


class AfricasTalkingProvider:
    """Sends SMS through Africa's Talking, many recipients of one text per request."""

    name = NAME
    max_recipients = MAX_RECIPIENTS

    def __init__(self, username: str, api_key: str, sender: str | None = None,
                 base_url: str = PRODUCTION_URL, timeout: float = 10.0,
                 session: requests.Session | None = None) -> None:
        self.username = username
        self.api_key = api_key
        self.sender = sender
        self.url = base_url.rstrip("/") + SEND_PATH
        self.timeout = timeout
        self.http = session or requests.Session()

    def send(self, messages: Sequence[SmsOut]) -> list[SendResult]:
        """Send, one request per text and sender; raise SendError if a request fails whole."""
        groups: dict[tuple[str, str | None], list[SmsOut]] = defaultdict(list)
        for message in messages:
            groups[(message.text, message.sender or self.sender)].append(message)
        results: list[SendResult] = []
        for (text, sender), group in groups.items():
            for start in range(0, len(group), self.max_recipients):
                results.extend(self._send_one_request(text, sender,
                                                      group[start : start + self.max_recipients]))
        return results

    def _send_one_request(self, text: str, sender: str | None,
                          messages: list[SmsOut]) -> list[SendResult]:
        form = {"username": self.username, "to": ",".join(m.to for m in messages),
                "message": text, "bulkSMSMode": "1"}
        if sender:
            form["from"] = sender
        if len(messages) > 1:
            form["enqueue"] = "1"
        headers = {"apiKey": self.api_key, "Accept": "application/json"}
        try:
            response = self.http.post(self.url, data=form, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise _request_error(exc) from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise SendError(f"HTTP {response.status_code}", retryable=True,
                            code=str(response.status_code))
        if response.status_code >= 400:
            raise SendError(f"HTTP {response.status_code}: {response.text[:120]}",
                            retryable=False, code=str(response.status_code))
        try:
            recipients = response.json()["SMSMessageData"]["Recipients"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SendError("unreadable answer", retryable=False, code="parse") from exc
        # The same number can appear twice in one request: match answers to messages in order.
        by_number: dict[str, list[dict[str, object]]] = defaultdict(list)
        for entry in recipients:
            by_number[str(entry.get("number", ""))].append(entry)
        return [self._result(m, by_number[m.to].pop(0) if by_number[m.to] else None)
                for m in messages]

    @staticmethod
    def _result(message: SmsOut, entry: dict[str, object] | None) -> SendResult:
        if entry is None:
            # Not retried: the provider may have sent it, and a duplicate is worse than a gap.
            return SendResult(message.reference, error=SendError(
                "no status for this recipient", retryable=False, code="missing"))
        code = _int_or_none(entry.get("statusCode")) or 0
        word, accepted, retryable, opted_out = SEND_STATUS_CODES.get(
            code, (str(entry.get("status", "Unknown")), False, False, False))
        if accepted:
            return SendResult(message.reference, provider_message_id=str(entry.get("messageId")),
                              status=SENT, provider_status=word,
                              cost=parse_cost(entry.get("cost")))
        return SendResult(message.reference, provider_status=word, error=SendError(
            word, retryable=retryable, code=str(code), opted_out=opted_out))


__all__ = [
    "NAME", "STATUS_MAP", "SEND_STATUS_CODES", "AfricasTalkingProvider", "ParseError",
    "UssdEvent", "parse_cost", "parse_delivery_report", "parse_sms", "parse_ussd",
    "parse_ussd_event", "render_ussd",
]
