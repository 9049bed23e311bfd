"""Helpers for the broadcast tests: an app without quiet hours, members in bulk."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from smsgateway.models import Cooperative, Language, OutboundMessage
from smsgateway.services.members import add_member

#: Quiet hours off, so routine broadcasts go now whatever the time of the test run.
DAYTIME = {"quiet_hours": {"enabled": False}, "console": {"echo": False}}


def phone(n: int) -> str:
    """The n-th synthetic Moroccan mobile number."""
    return f"+2126{n:08d}"


def make_coop(session: Session, slug: str, language: Language = Language.FR,
              name: str | None = None) -> Cooperative:
    """A cooperative with no members."""
    coop = Cooperative(slug=slug, name=name or f"Coop {slug}", default_language=language)
    session.add(coop)
    session.flush()
    return coop


def add_people(session: Session, coop: Cooperative,
               people: Iterable[tuple[int, str, str, str, list[str]]]) -> None:
    """Add members given as (number, name, language, role, groups)."""
    for n, name, language, role, groups in people:
        add_member(session, coop, phone(n), region="MA", name=name, language=language, role=role,
                   groups=groups)
    session.flush()


def sent_rows(session: Session, broadcast_id: int) -> list[OutboundMessage]:
    """The broadcast's outbound messages, by phone."""
    session.expire_all()
    return list(session.scalars(select(OutboundMessage).where(
        OutboundMessage.broadcast_id == broadcast_id).order_by(OutboundMessage.to_phone)))


def app_with(make_app: Any, **overrides: Any) -> Flask:
    """An app on the test database and Redis with the daytime settings plus ``overrides``."""
    config: dict[str, Any] = {**DAYTIME}
    config.update(overrides)
    return make_app(**config)
