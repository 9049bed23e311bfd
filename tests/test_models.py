"""The data model's invariants: ledger, phones, PINs, orders."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smsgateway.db import get_db
from smsgateway.exceptions import ImmutableRecord, InsufficientStock, InvalidTransition
from smsgateway.models import (
    AuditLog,
    Channel,
    Cooperative,
    Member,
    MovementReason,
    Order,
    OrderStatus,
    PhoneCredential,
    Product,
    StockMovement,
)
from smsgateway.phones import normalize_phone
from smsgateway.security import check_pin
from smsgateway.services import deliveries, members, orders, stock


def _coop(session: Session) -> tuple[Cooperative, Product]:
    coop = Cooperative(slug="c1", name="Coop")
    product = Product(cooperative=coop, code="AMLOU", unit="kg", names={"fr": "Amlou"},
                      member_price=Decimal("100"), sale_price=Decimal("200"))
    session.add_all([coop, product])
    session.flush()
    return coop, product


def test_stock_level_is_the_sum_of_the_ledger(session: Session) -> None:
    coop, product = _coop(session)
    moves = [Decimal("12.5"), Decimal("-2.25"), Decimal("40"), Decimal("-0.25")]
    for quantity in moves:
        stock.move_stock(session, product, quantity, MovementReason.ADJUSTMENT,
                         channel=Channel.CLI, actor_label="test")
    session.commit()
    ledger = session.scalar(select(func.sum(StockMovement.quantity)))
    assert stock.stock_level(session, product.id) == sum(moves) == ledger
    assert stock.stock_levels(session, coop.id) == {product.id: Decimal("50.000")}


def test_ledger_rows_cannot_be_changed_or_deleted(session: Session) -> None:
    _, product = _coop(session)
    movement = stock.move_stock(session, product, Decimal("5"), MovementReason.INITIAL,
                                channel=Channel.CLI)
    session.commit()
    movement.quantity = Decimal("500")
    with pytest.raises(ImmutableRecord):
        session.flush()
    session.rollback()
    session.delete(movement)
    with pytest.raises(ImmutableRecord):
        session.flush()
    session.rollback()
    assert stock.stock_level(session, product.id) == Decimal("5")


def test_stock_never_goes_below_zero(session: Session) -> None:
    _, product = _coop(session)
    stock.move_stock(session, product, Decimal("3"), MovementReason.INITIAL, channel=Channel.CLI)
    with pytest.raises(InsufficientStock):
        stock.move_stock(session, product, Decimal("-4"), MovementReason.ADJUSTMENT,
                         channel=Channel.CLI)
    assert stock.stock_level(session, product.id) == Decimal("3")


def test_every_movement_is_audited(session: Session) -> None:
    _, product = _coop(session)
    stock.move_stock(session, product, Decimal("3"), MovementReason.INITIAL, channel=Channel.WEB,
                     actor_label="dashboard:+212600000001")
    entry = session.scalars(select(AuditLog)).one()
    assert (entry.action, entry.channel, entry.actor_label) == (
        "stock.move", "web", "dashboard:+212600000001")


SPELLINGS = [
    "0612345678", "06 12 34 56 78", "06-12-34-56-78", "06.12.34.56.78", "+212612345678",
    "+212 6 12 34 56 78", "00212612345678", "212612345678", "(+212) 612-345-678",
    "٠٦١٢٣٤٥٦٧٨",
]


@pytest.mark.parametrize("spelling", SPELLINGS, ids=range(len(SPELLINGS)))
def test_moroccan_spellings_land_as_one_e164_member(session: Session, spelling: str) -> None:
    coop, _ = _coop(session)
    members.add_member(session, coop, "0612345678", region="MA", name="Khadija")
    session.commit()
    found = members.members_by_phone(session, normalize_phone(spelling, "MA"))
    assert [m.phone for m in found] == ["+212612345678"]
    with pytest.raises(IntegrityError):
        members.add_member(session, coop, spelling, region="MA", name="again")
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Member)) == 1


@pytest.mark.parametrize("bad", ["", "hello", "0612", "+2126123456789999"])
def test_unreadable_phone_is_refused(session: Session, bad: str) -> None:
    coop, _ = _coop(session)
    with pytest.raises(ValueError):
        members.add_member(session, coop, bad, region="MA")


def test_pin_is_never_stored_in_clear(session: Session) -> None:
    coop, _ = _coop(session)
    member = members.add_member(session, coop, "0612345678", region="MA", pin="4821")
    session.commit()
    stored = session.execute(select(PhoneCredential.pin_hash)).scalar_one()
    assert "4821" not in stored
    again = members.add_member(session, coop, "0712345678", region="MA", pin="4821")
    assert stored != session.get(PhoneCredential, again.phone).pin_hash
    assert check_pin(session.get(PhoneCredential, member.phone).pin_hash, "4821")
    assert not check_pin(stored, "4822")
    assert not check_pin(None, "4821")
    with pytest.raises(ValueError):
        members.add_member(session, coop, "0698765432", region="MA", pin="12a4")


def _order(session: Session, quantity: str) -> tuple[Member, Order, Product]:
    coop, product = _coop(session)
    coordinator = members.add_member(session, coop, "0600000001", region="MA", role="coordinator")
    order = Order(cooperative=coop, product=product, buyer_name="Buyer",
                  quantity=Decimal(quantity), unit_price=Decimal("200"))
    session.add(order)
    stock.move_stock(session, product, Decimal("10"), MovementReason.INITIAL, channel=Channel.CLI)
    session.commit()
    return coordinator, order, product


def test_confirming_an_order_reserves_stock(session: Session) -> None:
    coordinator, order, product = _order(session, "4")
    orders.confirm_order(session, order, coordinator, Channel.USSD)
    session.commit()
    assert order.status == OrderStatus.CONFIRMED and order.decided_by_id == coordinator.id
    assert stock.stock_level(session, product.id) == Decimal("6")
    with pytest.raises(InvalidTransition):
        orders.confirm_order(session, order, coordinator, Channel.USSD)


def test_confirming_with_short_stock_changes_nothing(session: Session) -> None:
    coordinator, order, product = _order(session, "11")
    with pytest.raises(InsufficientStock):
        orders.confirm_order(session, order, coordinator, Channel.USSD)
    session.rollback()
    session.refresh(order)
    assert order.status == OrderStatus.PENDING
    assert stock.stock_level(session, product.id) == Decimal("10")


def test_concurrent_confirmations_never_oversell(app: Flask, session: Session) -> None:
    coordinator, first, product = _order(session, "7")
    second = Order(cooperative_id=first.cooperative_id, product=product, buyer_name="Other",
                   quantity=Decimal("7"), unit_price=Decimal("200"))
    session.add(second)
    session.commit()
    outcomes: list[str] = []

    def confirm(order_id: int) -> None:
        with get_db(app).session() as s:
            order = s.get(Order, order_id)
            try:
                orders.confirm_order(s, order, s.get(Member, coordinator.id), Channel.WEB)
                s.flush()
                outcomes.append("confirmed")
            except InsufficientStock:
                outcomes.append("short")
                raise

    threads = [threading.Thread(target=lambda i=i: _swallow(confirm, i))
               for i in (first.id, second.id)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["confirmed", "short"]
    assert stock.stock_level(session, product.id) == Decimal("3")


def _swallow(func, *args) -> None:  # type: ignore[no-untyped-def]
    try:
        func(*args)
    except InsufficientStock:
        pass


def test_members_balance_follows_accepted_deliveries(session: Session) -> None:
    coop, product = _coop(session)
    coordinator = members.add_member(session, coop, "0600000001", region="MA", role="coordinator")
    member = members.add_member(session, coop, "0600000002", region="MA")
    d1 = deliveries.record_delivery(session, member, product, Decimal("3"), Channel.USSD)
    deliveries.record_delivery(session, member, product, Decimal("5"), Channel.SMS)
    assert deliveries.balance(session, member) == Decimal("0")
    assert stock.stock_level(session, product.id) == 0
    deliveries.accept_delivery(session, d1, coordinator, Channel.USSD)
    session.commit()
    assert deliveries.balance(session, member) == Decimal("300.00")
    assert stock.stock_level(session, product.id) == Decimal("3")
    with pytest.raises(PermissionError):
        deliveries.reject_delivery(session, d1, member, Channel.USSD)


def test_opt_out_is_recorded_with_its_time(session: Session) -> None:
    coop, _ = _coop(session)
    member = members.add_member(session, coop, "0612345678", region="MA")
    members.set_opt_out(session, "+212612345678", True, channel="sms")
    assert member.opted_out and member.opted_out_at is not None
    members.set_opt_out(session, "+212612345678", False, channel="sms")
    assert not member.opted_out and member.opted_out_at is None
