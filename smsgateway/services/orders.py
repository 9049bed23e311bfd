"""Orders: a coordinator confirms (reserving stock atomically) or rejects them."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..db import utcnow
from ..exceptions import InvalidTransition
from ..models import Channel, Member, MovementReason, Order, OrderStatus
from . import audit
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
