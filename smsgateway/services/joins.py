"""Requests to join a cooperative from numbers it does not know, and the decision on them."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from menus.languages import LANGUAGES

from ..models import Channel, Cooperative, JoinRequest, JoinRequestStatus, Member
from ..phones import normalize_phone
from . import audit
from .accounts import Actor, record
from .members import add_member
from .outcome import Notice, Outcome, refused


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


def pending_joins(session: Session, cooperative_id: int) -> list[JoinRequest]:
    """The cooperative's join requests waiting for a decision, oldest first."""
    return list(session.scalars(
        select(JoinRequest).where(JoinRequest.cooperative_id == cooperative_id,
                                  JoinRequest.status == JoinRequestStatus.PENDING)
        .order_by(JoinRequest.id)))


def decide_join(session: Session, request_id: int, accept: bool, *, actor: Actor,
                cooperative_ids: Iterable[int], service_code: str, name: str = "",
                region: str, language: str | None = None) -> Outcome:
    """Accept (the member is created and welcomed by SMS in her language) or refuse.

    Errors: ``not_found`` (also for another cooperative's request), ``already_decided``.
    The caller commits and sends the outcome's notices.
    """
    request = session.get(JoinRequest, request_id)
    if request is None or request.cooperative_id not in set(cooperative_ids):
        return refused("not_found")
    status = JoinRequestStatus.ACCEPTED if accept else JoinRequestStatus.DECLINED
    # One conditional UPDATE: of two decisions taken at once, one wins.
    changed = session.execute(
        update(JoinRequest).where(JoinRequest.id == request_id,
                                  JoinRequest.status == JoinRequestStatus.PENDING)
        .values(status=status)).rowcount
    session.refresh(request)
    if not changed:
        return refused("already_decided", request)
    coop = session.get(Cooperative, request.cooperative_id)
    assert coop is not None
    notices: list[Notice] = []
    member = session.scalar(select(Member).where(Member.cooperative_id == coop.id,
                                                 Member.phone == request.phone))
    if accept and member is None:
        chosen = language if language in LANGUAGES else str(coop.default_language)
        member = add_member(session, coop, request.phone, name=(name or request.name).strip(),
                            language=chosen, region=region)
        notices.append(Notice(member, "sms_join_welcome",
                              {"name": member.name, "service_code": service_code}))
    record(session, actor, "join.accept" if accept else "join.refuse", "join_request",
           request.id, coop.id, phone=request.phone)
    return Outcome(params={"id": request.id, "phone": request.phone}, subject=request,
                   notices=notices)
