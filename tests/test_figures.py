"""The home page's figures: counts and series from the real tables."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from smsgateway import outbox
from smsgateway.db import utcnow
from smsgateway.models import Channel, Member, MessageKind, OutboundStatus, Product
from smsgateway.services.deliveries import accept_delivery, record_delivery
from smsgateway.services.figures import DAYS, WEEKS, cooperative_figures


def test_figures_count_today_and_this_week(app: Flask, session: Session, demo: Any) -> None:
    khadija = session.scalar(select(Member).where(Member.phone == "+212600000002"))
    amlou = session.scalar(select(Product).where(Product.code == "AMLOU"))
    before = cooperative_figures(session, demo.id, utcnow())
    delivery = record_delivery(session, khadija, amlou, Decimal("5"), Channel.USSD)
    coordinator = session.scalar(select(Member).where(Member.phone == "+212600000001"))
    accept_delivery(session, delivery, coordinator, Channel.WEB)
    with app.test_request_context():
        for status in (OutboundStatus.DELIVERED, OutboundStatus.DELIVERED, OutboundStatus.FAILED):
            message = outbox.add(session, to=khadija.phone, text="x", kind=MessageKind.REPLY,
                                 member_id=khadija.id)
            message.status = status
    session.commit()
    after = cooperative_figures(session, demo.id, utcnow())
    assert len(after.messages_per_day) == DAYS and len(after.deliveries_per_week) == WEEKS
    assert after.deliveries_per_week[-1][1] == before.deliveries_per_week[-1][1] + 1
    assert after.messages_per_day[-1][1] == before.messages_per_day[-1][1] + 3
    assert after.delivery_rate_per_day[-1][1] == 67
    assert after.active == 4 and after.pending_deliveries == 0


def test_days_and_weeks_are_the_cooperatives_own(
    app: Flask, session: Session, demo: Any
) -> None:
    """23:30 UTC is the next day an hour east of Greenwich: the chart counts it there."""
    khadija = session.scalar(select(Member).where(Member.phone == "+212600000002"))
    coordinator = session.scalar(select(Member).where(Member.phone == "+212600000001"))
    amlou = session.scalar(select(Product).where(Product.code == "AMLOU"))
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # a Tuesday
    with app.test_request_context():
        message = outbox.add(session, to=khadija.phone, text="x", kind=MessageKind.REPLY,
                             member_id=khadija.id)
    message.status = OutboundStatus.DELIVERED
    message.created_at = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    delivery = record_delivery(session, khadija, amlou, Decimal("5"), Channel.USSD)
    accept_delivery(session, delivery, coordinator, Channel.WEB)
    delivery.decided_at = datetime(2026, 3, 8, 23, 30, tzinfo=UTC)  # Sunday, Monday at 00:30
    session.commit()

    utc = cooperative_figures(session, demo.id, now, ZoneInfo("UTC"))
    east = cooperative_figures(session, demo.id, now, ZoneInfo("Africa/Lagos"))  # UTC+1
    assert dict(utc.messages_per_day)[date(2026, 3, 9)] == 1
    assert dict(utc.messages_per_day)[date(2026, 3, 10)] == 0
    assert dict(east.messages_per_day)[date(2026, 3, 9)] == 0
    assert dict(east.messages_per_day)[date(2026, 3, 10)] == 1
    assert dict(east.delivery_rate_per_day)[date(2026, 3, 10)] == 100
    assert dict(utc.delivery_rate_per_day)[date(2026, 3, 10)] is None
    assert dict(utc.deliveries_per_week)[date(2026, 3, 2)] == 1
    assert dict(utc.deliveries_per_week)[date(2026, 3, 9)] == 0
    assert dict(east.deliveries_per_week)[date(2026, 3, 2)] == 0
    assert dict(east.deliveries_per_week)[date(2026, 3, 9)] == 1
    # The last day is the cooperative's today, not UTC's: far east of Greenwich, 23:30 UTC
    # is already the 11th there.
    late = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
    assert cooperative_figures(session, demo.id, late, ZoneInfo("Africa/Lagos")
                               ).messages_per_day[-1][0] == date(2026, 3, 11)
    assert cooperative_figures(session, demo.id, late, ZoneInfo("UTC")
                               ).messages_per_day[-1][0] == date(2026, 3, 10)
