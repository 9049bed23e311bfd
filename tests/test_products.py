"""Products and their price history: a delivery is valued at the price on its date."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from smsgateway.db import utcnow
from smsgateway.exceptions import Refused
from smsgateway.models import Channel, Member, Product, ProductPrice
from smsgateway.services import deliveries, products
from smsgateway.services.accounts import operator


@pytest.fixture
def argan(session: Session, demo: Any) -> Product:
    return session.scalars(select(Product).where(Product.code == "ARGAN")).one()


def _member(session: Session, phone: str) -> Member:
    return session.scalars(select(Member).where(Member.phone == phone)).one()


def test_a_delivery_is_valued_at_the_price_of_its_day(session: Session, argan: Product) -> None:
    aicha, fatima = _member(session, "+212600000004"), _member(session, "+212600000001")
    before = deliveries.record_delivery(session, aicha, argan, Decimal("2"), Channel.USSD)
    products.set_price(session, operator(), argan, "200")
    after = deliveries.record_delivery(session, aicha, argan, Decimal("1"), Channel.USSD)
    deliveries.accept_delivery(session, before, fatima, Channel.WEB)
    deliveries.accept_delivery(session, after, fatima, Channel.WEB)
    assert (before.unit_price, after.unit_price) == (Decimal("180"), Decimal("200"))
    assert deliveries.balance(session, aicha) == Decimal("560.00")
    # A later change leaves what was owed alone.
    products.set_price(session, operator(), argan, "150")
    session.flush()
    assert deliveries.balance(session, aicha) == Decimal("560.00")
    assert [p.member_price for p in products.price_history(session, argan)] == [
        Decimal("180"), Decimal("200"), Decimal("150")]


def test_a_backdated_price_values_pending_deliveries_of_its_days(
        session: Session, argan: Product) -> None:
    aicha, fatima = _member(session, "+212600000004"), _member(session, "+212600000001")
    delivery = deliveries.record_delivery(session, aicha, argan, Decimal("1"), Channel.USSD)
    session.flush()
    products.set_price(session, operator(), argan, "190", delivery.created_at)
    deliveries.accept_delivery(session, delivery, fatima, Channel.WEB)
    assert delivery.unit_price == Decimal("190")


@pytest.mark.parametrize(("price", "when", "field"), [
    ("-1", None, "price"),
    ("abc", None, "price"),
    ("1.234", None, "price"),
    ("10", timedelta(days=1), "from"),
    ("10", -timedelta(days=400), "from"),
])
def test_price_refusals_change_nothing(session: Session, argan: Product, price: str,
                                       when: timedelta | None, field: str) -> None:
    rows = session.scalars(select(ProductPrice)).all()
    with pytest.raises(Refused) as refused:
        products.set_price(session, operator(), argan, price,
                           utcnow() + when if when is not None else None)
    assert refused.value.field == field
    session.rollback()
    assert session.scalars(select(ProductPrice)).all() == rows
    assert session.get(Product, argan.id).member_price == Decimal("180")
