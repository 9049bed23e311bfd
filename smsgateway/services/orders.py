"""Orders: a coordinator confirms (reserving stock atomically) or rejects them."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..db import utcnow
from ..exceptions import InvalidTransition
from ..models import Channel, Member, MovementReason, Order, OrderStatus
from . import audit
from .outcome import Money, Notice, Outcome, Phrase, attempt, refused
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
