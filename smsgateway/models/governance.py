"""Resolutions members vote on, and requests to join from unknown numbers."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, utcnow
from .coop import Cooperative, Member
from .types import JsonDict, JsonList, str_enum


class Resolution(Base):
    """A question put to the members: one member, one vote, changeable until it closes."""

    __tablename__ = "resolutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    # {"fr": "...", "ar": "..."}
    titles: Mapped[JsonDict]
    # {"fr": ["Oui", "Non"], "ar": [...]}: the same choices in the same order per language.
    choices: Mapped[JsonDict]
    opens_at: Mapped[datetime] = mapped_column(default=utcnow)
    closes_at: Mapped[datetime]
    # Who may vote: members of these groups (names); empty, every active member.
    voter_groups: Mapped[JsonList]
    # The turnout needed for the result to count, in percent of those who may vote (0: none).
    quorum_percent: Mapped[int] = mapped_column(default=0)
    # When the results went out to the members by SMS (NULL until then).
    results_sent_at: Mapped[datetime | None]
    created_by_label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    cooperative: Mapped[Cooperative] = relationship()


class Vote(Base):
    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("resolution_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resolution_id: Mapped[int] = mapped_column(ForeignKey("resolutions.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    # Index into the resolution's choices.
    choice: Mapped[int]
    channel: Mapped[str] = mapped_column(String(10))
    cast_at: Mapped[datetime] = mapped_column(default=utcnow)

    resolution: Mapped[Resolution] = relationship()
    member: Mapped[Member] = relationship()


class JoinRequestStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"


class JoinRequest(Base):
    """An unknown number asked to join; a coordinator decides."""

    __tablename__ = "join_requests"
    __table_args__ = (UniqueConstraint("cooperative_id", "phone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    phone: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), default="")
    channel: Mapped[str] = mapped_column(String(10))
    status: Mapped[JoinRequestStatus] = mapped_column(
        str_enum(JoinRequestStatus, "join_request_status"), default=JoinRequestStatus.PENDING
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
