"""Neutral messages shared by every provider, the send error, and the Provider protocol."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

# Neutral delivery statuses, ranked: a report may only move a message to a higher rank, and a
# final status (rank 3) is never replaced. "sent" means the provider accepted it for delivery.
QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
DELIVERED = "delivered"
FAILED = "failed"
EXPIRED = "expired"

STATUS_RANK = {QUEUED: 0, SENDING: 1, SENT: 2, DELIVERED: 3, FAILED: 3, EXPIRED: 3}
FINAL_STATUSES = frozenset({DELIVERED, FAILED, EXPIRED})


class ParseError(ValueError):
    """A webhook whose fields are missing or cannot be read."""


#: The longest id, phone number or status word a provider sends; longer is not theirs.
MAX_ID = 100
#: The longest free text kept from a field.
MAX_TEXT = 2000
#: The longest SMS body kept (Twilio takes 1600 characters; a joined long SMS can be longer).
MAX_BODY = 8000

# NUL and the other C0 controls but tab and newlines: no provider sends them, PostgreSQL
# refuses NUL in text, and they make logs lie.
# One pattern rather than str.translate's table: every form field of every callback passes
# here, and a regex scan of a field with nothing to remove costs a third of a translate.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(value: object, limit: int = MAX_TEXT) -> str:
    """``value`` as text without control characters, cut to ``limit`` characters."""
    return _CONTROLS.sub("", str(value if value is not None else ""))[:limit]


def require(form: object, *names: str) -> list[str]:
    """The named fields of a form, stripped; :class:`ParseError` names the first missing one.

    They are ids, numbers and words: one that is too long or holds a control character is
    not what the provider sent.
    """
    values = []
    for name in names:
        value = form.get(name)  # type: ignore[attr-defined]
        if value is None or not str(value).strip():
            raise ParseError(f"missing field {name!r}")
        value = str(value).strip()
        if len(value) > MAX_ID or clean(value) != value:
            raise ParseError(f"field {name!r} is not a provider value")
        values.append(value)
    return values


def require_present(form: object, *names: str) -> None:
    """:class:`ParseError` unless every named field is in the form (it may be empty)."""
    for name in names:
        if form.get(name) is None:  # type: ignore[attr-defined]
            raise ParseError(f"missing field {name!r}")


def international(number: str) -> str:
    """``2126...`` as ``+2126...``: SMSCs and aggregators write international numbers bare.

    Only digits long enough to carry a country code (11 or more) get the ``+``; a short code
    or a national number stays as written.
    """
    number = number.strip()
    return f"+{number}" if number.isdigit() and len(number) >= 11 else number


def moves_forward(current: str, new: str) -> bool:
    """Whether a report of ``new`` may replace ``current``."""
    if current in FINAL_STATUSES:
        return False
    return STATUS_RANK.get(new, -1) > STATUS_RANK.get(current, -1)


@dataclass(frozen=True)
class UssdIn:
    """One USSD hop as the provider sent it."""

    session_id: str
    service_code: str
    phone: str
    network_code: str
    text: str


@dataclass(frozen=True)
class UssdOut:
    """A screen to show; ``end`` closes the session."""

    text: str
    end: bool = False


@dataclass(frozen=True)
class SmsIn:
    """An inbound SMS."""

    provider: str
    provider_message_id: str
    sender: str
    recipient: str
    text: str
    raw: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SmsOut:
    """An SMS to send. ``reference`` is the gateway's own id for it."""

    reference: int
    to: str
    text: str
    sender: str | None = None
    #: Not worth delivering after this (an alert's expiry); channels that can, drop it then.
    valid_until: datetime | None = None
    #: An urgent alert: channels with priorities put it first.
    urgent: bool = False


@dataclass(frozen=True)
class SendError(Exception):
    """A send that failed; ``retryable`` says whether trying again later can help."""

    reason: str
    retryable: bool
    code: str | None = None
    # The recipient asked the provider to stop (Twilio 21610): record an opt-out.
    opted_out: bool = False
    # The request reached the provider but no answer came back (a read timeout, a connection
    # dropped after the body was sent): it may have been taken, so resending it whole may
    # send it twice. A connect error or an HTTP error answer leaves this False.
    maybe_sent: bool = False

    def __str__(self) -> str:
        kind = "retryable" if self.retryable else "permanent"
        return f"{kind} send error {self.code or ''}: {self.reason}".replace("  ", " ")


@dataclass(frozen=True)
class SendResult:
    """What a provider said about one message of a send request."""

    reference: int
    provider_message_id: str | None = None
    status: str = SENT
    provider_status: str | None = None
    cost: Decimal | None = None
    error: SendError | None = None


@dataclass(frozen=True)
class StatusUpdate:
    """A delivery report, mapped to a neutral status."""

    provider: str
    provider_message_id: str
    status: str
    provider_status: str
    failure_reason: str | None = None
    error_code: str | None = None
    opted_out: bool = False
    # The recipient's number where the report carries it (Africa's Talking ``phoneNumber``):
    # it settles a message whose request timed out, whose provider id was never heard.
    phone: str | None = None
    # Channels that report delivery once per part (SMSGate, SMPP) name the part, so a retry
    # of one part's report is not taken for another part: the message is delivered once
    # every part is. None: the report is on the whole message.
    part: str | None = None
    # How many parts the channel itself split the message into, when it says (SMSGate's
    # ``partsCount``); it wins over the gateway's own segment count.
    parts: int | None = None


class Provider(Protocol):
    """What the gateway needs from an SMS provider."""

    name: str
    #: Recipients one request may carry when they all get the same text.
    max_recipients: int

    def send(self, messages: Sequence[SmsOut]) -> list[SendResult]:
        """Send messages; a whole-request failure raises :class:`SendError`."""
        ...
