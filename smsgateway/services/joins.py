"""Requests to join a cooperative from numbers it does not know."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..models import Channel, Cooperative, JoinRequest
from ..phones import normalize_phone
from . import audit


def default_cooperative(session: Session) -> Cooperative | None:
    """The cooperative an unknown caller of the shared service code is asking to join."""
    return session.scalar(select(Cooperative).order_by(Cooperative.id).limit(1))


def request_join(session: Session, cooperative: Cooperative, phone: str,
                 channel: Channel, region: str, name: str = "") -> tuple[JoinRequest, bool]:
    """Record a join request (once per phone, read in ``region``); return it and whether new."""
    phone = normalize_phone(phone, region)
    existing = session.scalar(select(JoinRequest).where(
        JoinRequest.cooperative_id == cooperative.id, JoinRequest.phone == phone))
    if existing is not None:
        return existing, False
    try:
        with session.begin_nested():
            request = JoinRequest(cooperative_id=cooperative.id, phone=phone, name=name,
                                  channel=str(channel))
            session.add(request)
    except IntegrityError:
        found = session.scalar(select(JoinRequest).where(
            JoinRequest.cooperative_id == cooperative.id, JoinRequest.phone == phone))
        assert found is not None
        return found, False
    audit.record(session, "join.request", "join_request", request.id, channel=channel,
                 actor_label=phone, cooperative_id=cooperative.id)
    return request, True
