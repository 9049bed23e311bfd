"""The home page's figures: counts and series from the real tables."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

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
