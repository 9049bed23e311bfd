"""Votes on resolutions: one member, one vote, changeable until the resolution closes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db import utcnow
from ..exceptions import InvalidTransition
from ..models import Channel, Member, Resolution, Vote
from . import audit
from .resolutions import may_vote


def open_resolutions(session: Session, cooperative_id: int, now: datetime | None = None,
                     member: Member | None = None) -> list[Resolution]:
    """The cooperative's resolutions open for voting now (the member's, when one is given),
    closing soonest first."""
    now = now or utcnow()
    found = list(session.scalars(
        select(Resolution)
        .where(Resolution.cooperative_id == cooperative_id, Resolution.opens_at <= now,
               Resolution.closes_at > now)
        .order_by(Resolution.closes_at, Resolution.id)
    ))
    return [r for r in found if member is None or may_vote(session, r, member)]


def current_vote(session: Session, resolution: Resolution, member: Member) -> Vote | None:
    """The member's vote on the resolution, if cast."""
    return session.scalar(select(Vote).where(Vote.resolution_id == resolution.id,
                                             Vote.member_id == member.id))


def cast_vote(session: Session, member: Member, resolution: Resolution, choice: int,
              channel: Channel) -> Vote:
    """Record or change the member's vote; refuse once the resolution has closed."""
    now = utcnow()
    if resolution.cooperative_id != member.cooperative_id:
        raise PermissionError("the resolution belongs to another cooperative")
    if not may_vote(session, resolution, member):
        raise PermissionError("the member is not among those who may vote")
    if not resolution.opens_at <= now < resolution.closes_at:
        raise InvalidTransition(f"resolution {resolution.id} is not open")
    count = len(next(iter(resolution.choices.values()), []))
    if not 0 <= choice < count:
        raise ValueError(f"no choice {choice} on resolution {resolution.id}")
    vote = current_vote(session, resolution, member)
    if vote is None:
        try:
            with session.begin_nested():
                vote = Vote(resolution_id=resolution.id, member_id=member.id, choice=choice,
                            channel=str(channel), cast_at=now)
                session.add(vote)
        except IntegrityError:
            # The same member voted from another session a moment ago: change that vote.
            vote = current_vote(session, resolution, member)
            assert vote is not None
    previous = vote.choice
    vote.choice, vote.channel, vote.cast_at = choice, str(channel), now
    session.flush()
    audit.record(session, "vote.cast", "resolution", resolution.id, channel=channel,
                 actor=member, details={"choice": choice, "previous": previous})
    return vote
