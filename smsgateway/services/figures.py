"""A cooperative at a glance: member counts, what waits for a decision, and short series
(deliveries per week, messages per day, delivery rate) for the dashboard's home page.

Read-only. Days and weeks are counted in UTC: a Moroccan day starts an hour apart, which
does not change the shape of a two-week chart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import (
    Delivery,
    DeliveryStatus,
    JoinRequest,
    JoinRequestStatus,
    Member,
    Order,
    OrderStatus,
    OutboundMessage,
    OutboundStatus,
)

DAYS = 14
WEEKS = 8
NEW_MEMBER_DAYS = 30


@dataclass
class Figures:
    """What the home page shows."""

    active: int = 0
    opted_out: int = 0
    new: int = 0
    pending_orders: int = 0
    pending_deliveries: int = 0
    pending_joins: int = 0
    #: (first day of the week, accepted deliveries), oldest first.
    deliveries_per_week: list[tuple[date, int]] = field(default_factory=list)
    #: (day, messages sent to members), oldest first.
    messages_per_day: list[tuple[date, int]] = field(default_factory=list)
    #: (day, percent delivered of those with a final status, None when none), oldest first.
    delivery_rate_per_day: list[tuple[date, int | None]] = field(default_factory=list)


def _count(session: Session, query: object) -> int:
    return session.scalar(query) or 0  # type: ignore[call-overload]


def cooperative_figures(session: Session, cooperative_id: int, now: datetime) -> Figures:
    """The figures of one cooperative as of ``now`` (UTC)."""
    members = Member.cooperative_id == cooperative_id
    figures = Figures(
        active=_count(session, select(func.count()).where(members, Member.active.is_(True))),
        opted_out=_count(session, select(func.count()).where(
            members, Member.active.is_(True), Member.opted_out.is_(True))),
        new=_count(session, select(func.count()).where(
            members, Member.created_at >= now - timedelta(days=NEW_MEMBER_DAYS))),
        pending_orders=_count(session, select(func.count()).select_from(Order).where(
            Order.cooperative_id == cooperative_id, Order.status == OrderStatus.PENDING)),
        pending_deliveries=_count(session, select(func.count()).select_from(Delivery)
                                  .join(Member, Member.id == Delivery.member_id)
                                  .where(members, Delivery.status == DeliveryStatus.PENDING)),
        pending_joins=_count(session, select(func.count()).select_from(JoinRequest).where(
            JoinRequest.cooperative_id == cooperative_id,
            JoinRequest.status == JoinRequestStatus.PENDING)),
    )
    today = now.date()
    start = today - timedelta(days=DAYS - 1)
    by_day: dict[date, dict[str, int]] = {start + timedelta(days=i): {} for i in range(DAYS)}
    day = func.date(OutboundMessage.created_at)
    rows = session.execute(
        select(day, OutboundMessage.status, func.count())
        .join(Member, Member.id == OutboundMessage.member_id)
        .where(members, OutboundMessage.created_at >= datetime.combine(start, datetime.min.time(),
                                                                       now.tzinfo))
        .group_by(day, OutboundMessage.status))
    for when, status, n in rows:
        key = when if isinstance(when, date) else date.fromisoformat(str(when))
        if key in by_day:
            by_day[key][str(status)] = n
    final = (OutboundStatus.DELIVERED, OutboundStatus.FAILED, OutboundStatus.EXPIRED)
    for key, counts in by_day.items():
        figures.messages_per_day.append((key, sum(counts.values())))
        ended = sum(counts.get(str(s), 0) for s in final)
        rate = round(100 * counts.get("delivered", 0) / ended) if ended else None
        figures.delivery_rate_per_day.append((key, rate))
    monday = today - timedelta(days=today.weekday())
    weeks = [monday - timedelta(weeks=WEEKS - 1 - i) for i in range(WEEKS)]
    decided = session.scalars(
        select(Delivery.decided_at).join(Member, Member.id == Delivery.member_id)
        .where(members, Delivery.status == DeliveryStatus.ACCEPTED,
               Delivery.decided_at >= datetime.combine(weeks[0], datetime.min.time(),
                                                       now.tzinfo))).all()
    per_week = dict.fromkeys(weeks, 0)
    for when in decided:
        week = when.date() - timedelta(days=when.date().weekday())
        if week in per_week:
            per_week[week] += 1
    figures.deliveries_per_week = list(per_week.items())
    return figures
