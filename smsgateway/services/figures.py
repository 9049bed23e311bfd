"""A cooperative at a glance: member counts, what waits for a decision, and short series
(deliveries per week, messages per day, delivery rate) for the dashboard's home page.

Read-only. Days and weeks are the cooperative's own (its time zone, see
:func:`smsgateway.localtime.cooperative_zone`): a message sent at 23:30 UTC in a zone an hour
ahead counts on the next day, as the coordinator lived it. The buckets are computed in Python as
UTC instants (local midnights) and the database only compares timestamps, so SQLite and
PostgreSQL count alike without their differing date functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ..localtime import in_zone
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


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    # The instant a local day starts (zoneinfo places it right across a DST change).
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def _bucket(column: Any, starts: Sequence[date], zone: ZoneInfo) -> tuple[Any, Any]:
    """Which of the local periods beginning on ``starts`` a timestamp falls in.

    Returns the bucket expression (its index in ``starts``) and the condition keeping the
    timestamps within them; each period ends where the next begins, the last after one more
    period of the same length.
    """
    ends = [*starts[1:], starts[-1] + (starts[-1] - starts[-2] if len(starts) > 1
                                          else timedelta(days=1))]
    bucket = case(*((column < _midnight(end, zone), i) for i, end in enumerate(ends)))
    within = (column >= _midnight(starts[0], zone)) & (column < _midnight(ends[-1], zone))
    return bucket, within


def cooperative_figures(session: Session, cooperative_id: int, now: datetime,
                        zone: ZoneInfo | None = None) -> Figures:
    """The figures of one cooperative as of ``now``, days and weeks counted in ``zone``."""
    zone = zone or ZoneInfo("UTC")
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
    today = in_zone(now, zone).date()
    _messages(session, figures, members, [today - timedelta(days=DAYS - 1 - i)
                                          for i in range(DAYS)], zone)
    monday = today - timedelta(days=today.weekday())
    weeks = [monday - timedelta(weeks=WEEKS - 1 - i) for i in range(WEEKS)]
    bucket, within = _bucket(Delivery.decided_at, weeks, zone)
    per_week = dict(session.execute(
        select(bucket.label("week"), func.count())
        .join(Member, Member.id == Delivery.member_id)
        .where(members, Delivery.status == DeliveryStatus.ACCEPTED, within)
        .group_by("week")).all())
    figures.deliveries_per_week = [(week, per_week.get(i, 0)) for i, week in enumerate(weeks)]
    return figures


def _messages(session: Session, figures: Figures, members: Any, days: list[date],
              zone: ZoneInfo) -> None:
    """Fill the messages-per-day and delivery-rate series over ``days``."""
    bucket, within = _bucket(OutboundMessage.created_at, days, zone)
    by_day: list[dict[str, int]] = [{} for _ in days]
    rows = session.execute(
        select(bucket.label("day"), OutboundMessage.status, func.count())
        .join(Member, Member.id == OutboundMessage.member_id)
        .where(members, within)
        .group_by("day", OutboundMessage.status))
    for index, status, n in rows:
        by_day[index][str(status)] = n
    final = (OutboundStatus.DELIVERED, OutboundStatus.FAILED, OutboundStatus.EXPIRED)
    for day, counts in zip(days, by_day, strict=True):
        figures.messages_per_day.append((day, sum(counts.values())))
        ended = sum(counts.get(str(s), 0) for s in final)
        rate = round(100 * counts.get("delivered", 0) / ended) if ended else None
        figures.delivery_rate_per_day.append((day, rate))
