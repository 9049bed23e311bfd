"""What the management commands share: who acts (``--as``), one-line refusals, times, CSV of texts.

The operator at the server's shell may do anything; ``--as PHONE`` acts as that dashboard
account instead, with exactly its rights (a coordinator: her cooperative only). A refusal is
one line on stderr naming the field, exit status 1, and nothing changed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

import click
from flask import current_app
from sqlalchemy.orm import Session

from menus.languages import LANGUAGES

from ..db import get_db
from ..exceptions import NotPermitted, Refused
from ..models import Cooperative
from ..phones import try_normalize
from ..services import accounts, coops


def region() -> str:
    """Where national phone numbers are read."""
    return current_app.config["SETTINGS"].defaults.region


def as_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--as PHONE``: act as that dashboard account (default: the operator)."""
    return click.option("--as", "as_phone", default=None, metavar="PHONE",
                        help="Act as this dashboard account, with its rights.")(func)


def coop_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--coop SLUG``."""
    return click.option("--coop", "slug", required=True, help="The cooperative's slug.")(func)


def actor(session: Session, as_phone: str | None) -> accounts.Actor:
    """The operator, or the account ``--as`` names."""
    if not as_phone:
        return accounts.operator("cli")
    phone = try_normalize(as_phone, region())
    account = accounts.find_account(session, phone) if phone else None
    if account is None:
        raise Refused("as", f"no active account {as_phone!r}")
    return accounts.actor_for(account, "cli")


def cooperative(session: Session, who: accounts.Actor, slug: str) -> Cooperative:
    """The cooperative ``--coop`` names, when ``who`` may manage it."""
    return coops.find_cooperative(session, who, slug)


@contextmanager
def transaction() -> Iterator[Session]:
    """A session committed at the end; a refusal rolls back, prints one line, exits 1."""
    session = get_db().sessionmaker()
    try:
        yield session
        session.commit()
    except (Refused, NotPermitted) as error:
        session.rollback()
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    finally:
        session.close()


def refusing(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a refusal raised outside :func:`transaction` into the same one line."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (Refused, NotPermitted) as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(1)

    return wrapper


def when(value: str | None, zone: str, field: str) -> datetime | None:
    """A time typed as ``2026-06-30 18:00`` in the cooperative's time zone (or with an offset)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Refused(field, f"{value!r}: write it as 2026-06-30 18:00") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    return parsed


def per_language(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    """``{"fr": ..., "ar": ...}`` from options named ``<prefix>_fr``, ``<prefix>_ar``..."""
    return {lang: values[f"{prefix}_{lang}"] for lang in LANGUAGES
            if values.get(f"{prefix}_{lang}")}


def language_options(name: str, help_text: str) -> Callable[..., Any]:
    """One ``--NAME-LANG`` option per language."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for lang in reversed(LANGUAGES):
            func = click.option(f"--{name}-{lang}", f"{name.replace('-', '_')}_{lang}",
                                default=None, help=f"{help_text} ({lang}).")(func)
        return func

    return decorate


def local(moment: datetime, zone: str) -> str:
    """A stored time as the cooperative reads it: ``2026-06-30 18:00 Africa/Casablanca``."""
    return f"{moment.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} {zone}"
