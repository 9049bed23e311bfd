"""Cooperatives: the operator creates them and an administrator changes their settings."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..exceptions import NotPermitted, Refused
from ..models import Cooperative, Language
from ..models.coop import DEFAULT_TIMEZONE
from .accounts import Actor, record, require_cooperative

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
#: A service code of its own (``*384*77#``) or an extension of the shared one (``770``, dialled
#: ``*384*123*770#``): three digits at least, so that it is never a menu choice.
USSD_CODE_RE = re.compile(r"^(\*[0-9*]+#|[0-9]{3,6})$")
#: What an alphanumeric SMS sender may be: letters, digits and spaces, 11 at most.
SENDER_RE = re.compile(r"^[A-Za-z0-9 ]{1,11}$")
FIELDS = ("name", "region", "default_language", "timezone", "ussd_code", "sender_name")


def _check(session: Session, values: dict[str, Any], coop_id: int | None) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        value = value.strip() if isinstance(value, str) else value
        if key == "name" and not value:
            raise Refused("name", "a cooperative needs a name")
        if key == "name" and len(value) > 200:
            raise Refused("name", "at most 200 characters")
        if key == "default_language" and value not in {lang.value for lang in Language}:
            raise Refused("language", f"unknown language {value!r}")
        if key == "timezone":
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise Refused("timezone", f"unknown time zone {value!r} (e.g. "
                              f"{DEFAULT_TIMEZONE})") from None
            if value not in available_timezones():
                raise Refused("timezone", f"unknown time zone {value!r}")
        if key == "ussd_code" and value:
            if not USSD_CODE_RE.match(value):
                raise Refused("ussd-code", f"{value!r} is not a service code (*384*77#) or an "
                              "extension of 3 to 6 digits (770)")
            other = session.scalar(select(Cooperative.slug).where(
                Cooperative.ussd_code == value, Cooperative.id != (coop_id or 0)))
            if other:
                raise Refused("ussd-code", f"{value} is already {other}'s")
        if key == "sender_name" and value and not SENDER_RE.match(value):
            raise Refused("sender", "letters, digits and spaces, at most 11")
        clean[key] = value or None if key in ("ussd_code", "sender_name", "region") else value
    return clean


def create_cooperative(session: Session, actor: Actor, *, slug: str, name: str,
                       region: str | None = None, default_language: str = "fr",
                       timezone: str = DEFAULT_TIMEZONE, ussd_code: str | None = None,
                       sender_name: str | None = None) -> Cooperative:
    """A new cooperative (operator or administrator only); the caller commits."""
    if actor.account is not None and not actor.account.is_administrator:
        raise NotPermitted("role: only an administrator creates cooperatives")
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug):
        raise Refused("slug", f"{slug!r}: lowercase letters, digits and dashes, 2 to 63")
    if session.scalar(select(Cooperative.id).where(Cooperative.slug == slug)) is not None:
        raise Refused("slug", f"{slug!r} is already in use")
    values = _check(session, {"name": name, "region": region,
                              "default_language": default_language, "timezone": timezone,
                              "ussd_code": ussd_code, "sender_name": sender_name}, None)
    values["default_language"] = Language(values["default_language"])
    coop = Cooperative(slug=slug, **values)
    session.add(coop)
    session.flush()
    record(session, actor, "cooperative.create", "cooperative", coop.id, coop.id,
           slug=slug, **{k: str(v) for k, v in values.items() if v is not None})
    return coop


def edit_cooperative(session: Session, actor: Actor, slug: str, **values: Any) -> Cooperative:
    """Change a cooperative's settings (only the ones given); the caller commits."""
    coop = find_cooperative(session, actor, slug)
    clean = _check(session, {k: v for k, v in values.items() if k in FIELDS}, coop.id)
    changed = {}
    for key, value in clean.items():
        value = Language(value) if key == "default_language" else value
        if getattr(coop, key) != value:
            changed[key] = {"from": str(getattr(coop, key)), "to": str(value)}
            setattr(coop, key, value)
    if changed:
        record(session, actor, "cooperative.edit", "cooperative", coop.id, coop.id, **changed)
    return coop


def find_cooperative(session: Session, actor: Actor, slug: str) -> Cooperative:
    """The cooperative with that slug, when ``actor`` may manage it."""
    coop_id = session.scalar(select(Cooperative.id).where(Cooperative.slug == slug.strip()))
    try:
        if coop_id is not None:
            return require_cooperative(session, actor, coop_id)
    except NotPermitted:
        pass  # Another cooperative is answered like an unknown one.
    # The slugs she may use, so a typo is corrected from the answer (none of anyone else's).
    valid = ", ".join(c.slug for c in list_cooperatives(session, actor))
    raise Refused("slug", f"no cooperative {slug!r} (cooperatives: "
                          f"{valid or 'none yet: run `smsgateway seed-demo` or `coops create`'})")


def list_cooperatives(session: Session, actor: Actor) -> list[Cooperative]:
    """The cooperatives ``actor`` may see."""
    coops = session.scalars(select(Cooperative).order_by(Cooperative.slug))
    return [c for c in coops if actor.account is None or actor.account.is_administrator
            or c.id == actor.account.cooperative_id]


def for_ussd_code(session: Session, code: str | None) -> Cooperative | None:
    """The cooperative owning a service code or extension (None: the shared code)."""
    if not code:
        return None
    return session.scalar(select(Cooperative).where(Cooperative.ussd_code == code))


def dial_code(coop: Cooperative, shared: str) -> str:
    """What its members dial: its own service code, the shared one with its extension
    (``*384*123*770#``), or the shared one."""
    code = coop.ussd_code
    if not code:
        return shared
    return code if code.startswith("*") else f"{shared[:-1]}*{code}#"
