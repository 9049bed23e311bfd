"""PINs and passwords: hashed with a salt, never stored or logged in clear."""

from __future__ import annotations

import re
import secrets

from werkzeug.security import check_password_hash, generate_password_hash

PIN_RE = re.compile(r"^[0-9]{4}$")
#: One-time codes a coordinator issues: six digits, so that a code is never taken for a PIN.
CODE_RE = re.compile(r"^[0-9]{6}$")
CODE_LENGTH = 6
# A 4-digit PIN has 10,000 values: the hash only keeps it out of sight; lockouts protect it.
PIN_METHOD = "pbkdf2:sha256:60000"
PASSWORD_METHOD = "scrypt"
MIN_PASSWORD_LENGTH = 8


def is_valid_pin(pin: str) -> bool:
    """Whether ``pin`` is exactly four ASCII digits."""
    return bool(PIN_RE.match(pin or ""))


def hash_pin(pin: str) -> str:
    """Hash a 4-digit PIN."""
    if not is_valid_pin(pin):
        raise ValueError("a PIN is exactly four digits")
    return generate_password_hash(pin, method=PIN_METHOD)


def check_pin(pin_hash: str | None, pin: str) -> bool:
    """Whether ``pin`` matches ``pin_hash`` (always False when no PIN is set)."""
    if not pin_hash or not is_valid_pin(pin):
        return False
    return check_password_hash(pin_hash, pin)


def is_weak_pin(pin: str) -> bool:
    """Whether a PIN is too easy to guess: one digit repeated (1111), a run (1234, 9876),
    or two digits twice (1212)."""
    digits = [int(ch) for ch in pin]
    steps = {b - a for a, b in zip(digits, digits[1:], strict=False)}
    return len(steps) == 1 and steps <= {-1, 0, 1} or pin[:2] == pin[2:]


def generate_code() -> str:
    """A fresh one-time code (six random digits)."""
    return "".join(secrets.choice("0123456789") for _ in range(CODE_LENGTH))


def hash_code(code: str) -> str:
    """Hash a one-time code like a PIN: it is kept only to be compared."""
    if not CODE_RE.match(code):
        raise ValueError("a code is exactly six digits")
    return generate_password_hash(code, method=PIN_METHOD)


def check_code(code_hash: str | None, code: str) -> bool:
    """Whether ``code`` matches ``code_hash`` (False when there is none)."""
    if not code_hash or not CODE_RE.match(code or ""):
        return False
    return check_password_hash(code_hash, code)


def hash_password(password: str) -> str:
    """Hash a dashboard password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    return generate_password_hash(password, method=PASSWORD_METHOD)


def check_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches (always False when no password is set)."""
    return bool(password_hash) and check_password_hash(password_hash, password)
