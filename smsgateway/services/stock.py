"""Stock: an append-only ledger whose sum is the level."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from ..exceptions import InsufficientStock
from ..models import Channel, Member, MovementReason, Product, StockMovement
from . import audit


def stock_level(session: Session, product_id: int) -> Decimal:
    """The product's stock: the sum of its movements."""
    total = session.scalar(
        select(func.coalesce(func.sum(StockMovement.quantity), 0)).where(
            StockMovement.product_id == product_id
        )
    )
    return Decimal(total).quantize(Decimal("0.001"))


# Built once: STOCK by SMS runs it per message, and building a select costs as much as running it.
_STOCK_LEVELS = (select(Product.id, func.coalesce(func.sum(StockMovement.quantity), 0))
                 .outerjoin(StockMovement, StockMovement.product_id == Product.id)
                 .where(Product.cooperative_id == bindparam("coop"))
                 .group_by(Product.id))


def stock_levels(session: Session, cooperative_id: int) -> dict[int, Decimal]:
    """Stock of every product of a cooperative, by product id (zero when no movement)."""
    rows = session.execute(_STOCK_LEVELS, {"coop": cooperative_id})
    return {pid: Decimal(total).quantize(Decimal("0.001")) for pid, total in rows}


def lock_product(session: Session, product_id: int) -> None:
    """Serialize stock decisions on one product until the transaction ends.

    A no-op UPDATE takes PostgreSQL's row lock and SQLite's write lock alike, so two
    coordinators confirming orders at once cannot both spend the same stock.
    """
    session.execute(update(Product).where(Product.id == product_id).values(id=Product.id))


def move_stock(
    session: Session,
    product: Product,
    quantity: Decimal,
    reason: MovementReason,
    *,
    channel: Channel,
    actor: Member | None = None,
    actor_label: str = "",
    reference: str | None = None,
    note: str = "",
    allow_negative: bool = False,
) -> StockMovement:
    """Append a movement; refuse one that would take the stock below zero."""
    quantity = Decimal(quantity)
    if quantity == 0:
        raise ValueError("a stock movement cannot be zero")
    lock_product(session, product.id)
    if quantity < 0 and not allow_negative:
        available = stock_level(session, product.id)
        if available + quantity < 0:
            raise InsufficientStock(product.id, available, -quantity)
    movement = StockMovement(
        product_id=product.id,
        quantity=quantity,
        reason=reason,
        channel=channel,
        actor_member_id=actor.id if actor else None,
        actor_label=actor_label or (actor.phone if actor else ""),
        reference=reference,
        note=note,
    )
    session.add(movement)
    session.flush()
    audit.record(
        session,
        "stock.move",
        "product",
        product.id,
        channel=channel,
        actor=actor,
        actor_label=actor_label,
        cooperative_id=product.cooperative_id,
        details={"quantity": str(quantity), "reason": str(reason), "reference": reference,
                 "note": note},
    )
    return movement
