"""Phone numbers: every spelling people write, stored as one E.164 string."""

from __future__ import annotations

import phonenumbers

from .exceptions import InvalidPhoneNumber


def normalize_phone(raw: str, region: str | None) -> str:
    """Return ``raw`` as E.164 (``+2126...``), reading national forms in ``region``.

    ``region`` is the configured ``defaults.region`` (None: international forms only).

    Accepts ``06 12 34 56 78``, ``0612345678``, ``+212612345678``, ``00212612345678``,
    ``212612345678``, dashes, dots, brackets and Eastern Arabic digits.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidPhoneNumber("empty phone number")
    candidate = raw.strip()
    digits = "".join(ch for ch in candidate if ch.isdigit())
    if len(candidate) > 32 or not digits:
        raise InvalidPhoneNumber(f"not a phone number: {raw!r}")
    try:
        parsed = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_valid_number(parsed):
        # "212612345678" (country code without + or 00) reads as a national number first.
        try:
            parsed = phonenumbers.parse("+" + digits_ascii(candidate), None)
        except phonenumbers.NumberParseException as exc:
            raise InvalidPhoneNumber(f"not a valid number: {raw!r}") from exc
        if not phonenumbers.is_valid_number(parsed):
            raise InvalidPhoneNumber(f"not a valid number: {raw!r}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def digits_ascii(text: str) -> str:
    """The digits of ``text`` as ASCII, whatever script they were written in."""
    return "".join(str(int(ch)) for ch in text if ch.isdigit())


def try_normalize(raw: str, region: str | None) -> str | None:
    """Like :func:`normalize_phone`, but ``None`` for a number that cannot be read."""
    try:
        return normalize_phone(raw, region)
    except InvalidPhoneNumber:
        return None
