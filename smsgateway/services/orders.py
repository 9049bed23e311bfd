"""Orders: a coordinator confirms (reserving stock atomically) or rejects them."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..db import utcnow
from ..exceptions import InvalidTransition, Refused
from ..models import Channel, Member, MovementReason, Order, OrderStatus, Product
from ..phones import try_normalize
from . import audit
from .accounts import Actor, record, require_cooperative
from .outcome import Money, Notice, Outcome, Phrase, attempt, refused
from .products import money
from .stock import move_stock


def pending_orders(session: Session, cooperative_id: int) -> list[Order]:
    """The cooperative's pending orders, oldest first."""
    return list(
        session.scalars(
            select(Order)
            .where(Order.cooperative_id == cooperative_id, Order.status == OrderStatus.PENDING)
            .order_by(Order.created_at, Order.id)
        )
    )


def _claim(session: Session, order: Order, new_status: OrderStatus, actor: Member,
           channel: Channel) -> None:
    # The conditional UPDATE is the lock: of two coordinators deciding at once, one wins.
    result = session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status == OrderStatus.PENDING)
        .values(status=new_status, decided_by_id=actor.id, decided_at=utcnow(),
                decision_channel=channel)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.refresh(order)
        raise InvalidTransition(f"order {order.id} is already {order.status}")
    session.refresh(order)


def confirm_order(session: Session, order: Order, actor: Member, channel: Channel) -> Order:
    """Confirm a pending order and take its quantity out of stock.

    Raises :class:`InsufficientStock` (and changes nothing) when the stock is short.
    """
    if actor.cooperative_id != order.cooperative_id or not actor.is_coordinator:
        raise PermissionError("only a coordinator of the order's cooperative may confirm it")
    _claim(session, order, OrderStatus.CONFIRMED, actor, channel)
    move_stock(
        session, order.product, -order.quantity, MovementReason.ORDER,
        channel=channel, actor=actor, reference=f"order:{order.id}",
    )
    audit.record(session, "order.confirm", "order", order.id, channel=channel, actor=actor)
    return order


def reject_order(session: Session, order: Order, actor: Member, channel: Channel) -> Order:
    """Reject a pending order."""
    if actor.cooperative_id != order.cooperative_id or not actor.is_coordinator:
        raise PermissionError("only a coordinator of the order's cooperative may reject it")
    _claim(session, order, OrderStatus.REJECTED, actor, channel)
    audit.record(session, "order.reject", "order", order.id, channel=channel, actor=actor)
    return order


def find_order(session: Session, order_id: int, cooperative_id: int) -> Order | None:
    """The cooperative's order ``order_id``, or None (another cooperative's is not found)."""
    order = session.get(Order, order_id)
    return order if order is not None and order.cooperative_id == cooperative_id else None


def decide_order(session: Session, order_id: int, actor: Member, confirm: bool,
                 channel: Channel) -> Outcome:
    """A coordinator confirms or rejects an order; a refusal changes nothing.

    Errors: ``not_allowed``, ``not_found``, ``already_decided`` (``status``),
    ``insufficient_stock`` (``available``, ``requested``). The actor gets a receipt.
    """
    if not actor.is_coordinator:
        return refused("not_allowed")
    order = find_order(session, order_id, actor.cooperative_id)
    if order is None:
        return refused("not_found", order=order_id)
    decision = confirm_order if confirm else reject_order
    refusal = attempt(session, order, "order", lambda: decision(session, order, actor, channel))
    if refusal is not None:
        return refusal
    product = order.product
    values = {"order": order.id, "quantity": Decimal(order.quantity), "unit": product.unit,
              "product": product, "buyer": order.buyer_name, "total": Money(order.total)}
    outcome = Phrase("order_confirmed" if confirm else "order_rejected", {"order": order.id})
    receipt = Notice(actor, "order_decided_confirmed" if confirm else "order_decided_rejected",
                     values, to_actor=True)
    return Outcome(params={**values, "outcome": outcome}, subject=order, notices=[receipt])


def record_order(session: Session, actor: Actor, product: Product, *, buyer_name: str,
                 quantity: Any, unit_price: Any = None, buyer_phone: str | None = None,
                 region: str = "MA") -> Order:
    """A buyer's order, pending until a coordinator confirms or rejects it (the caller commits).

    ``unit_price`` defaults to the product's sale price.
    """
    require_cooperative(session, actor, product.cooperative_id)
    buyer_name = buyer_name.strip()
    if not buyer_name or len(buyer_name) > 200:
        raise Refused("buyer", "a buyer's name, at most 200 characters")
    try:
        amount = Decimal(str(quantity).strip().replace(",", "."))
    except InvalidOperation:
        raise Refused("quantity", f"{quantity!r} is not a number") from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.001")):
        raise Refused("quantity", "above zero, to the gram")
    if amount > Decimal("1000000"):
        raise Refused("quantity", "at most 1,000,000")
    price = product.sale_price if unit_price is None else money(unit_price, "price")
    phone = None
    if buyer_phone:
        phone = try_normalize(buyer_phone, region)
        if phone is None:
            raise Refused("buyer-phone", f"not a phone number: {buyer_phone!r}")
    if not product.active:
        raise Refused("product", f"{product.code} is no longer offered")
    order = Order(cooperative_id=product.cooperative_id, product_id=product.id,
                  buyer_name=buyer_name, buyer_phone=phone, quantity=amount, unit_price=price)
    session.add(order)
    session.flush()
    record(session, actor, "order.record", "order", order.id, product.cooperative_id,
           product=product.code, quantity=str(amount), unit_price=str(price), buyer=buyer_name)
    return order
