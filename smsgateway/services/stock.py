"""Stock: an append-only ledger whose sum is the level."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from ..exceptions import InsufficientStock
from ..models import Channel, Member, MovementReason, Product, StockMovement
from . import audit
from .outcome import Notice, Outcome, Phrase, num, refused

#: The largest stock adjustment at once, whatever the channel: more is a typing slip.
MAX_ADJUSTMENT = Decimal("100000")
#: The reasons a USSD adjustment names (message ``reason_<code>``); the dashboard writes its own.
ADJUST_REASONS = ("count", "loss", "correction")
#: The longest note kept with an adjustment.
MAX_NOTE = 300


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


def adjust_stock(session: Session, product_id: int, change: Decimal, note: str, actor: Member,
                 channel: Channel) -> Outcome:
    """A coordinator adds to (``change`` > 0) or takes from a product's stock, with a reason.

    Errors: ``not_allowed``, ``not_found``, ``bad_quantity`` (``max``), ``no_reason``,
    ``insufficient_stock`` (``available``, ``requested``, ``unit``). A receipt goes to the
    actor.
    """
    if not actor.is_coordinator:
        return refused("not_allowed")
    product = session.get(Product, product_id)
    if product is None or product.cooperative_id != actor.cooperative_id:
        return refused("not_found")
    change, note = Decimal(change), note.strip()[:MAX_NOTE]
    if not change.is_finite() or change == 0 or abs(change) > MAX_ADJUSTMENT:
        return refused("bad_quantity", product, max=MAX_ADJUSTMENT)
    if not note:
        return refused("no_reason", product)
    try:
        with session.begin_nested():  # a refusal leaves the caller's transaction as it was
            move_stock(session, product, change, MovementReason.ADJUSTMENT, channel=channel,
                       actor=actor, note=note)
    except InsufficientStock as short:
        return refused("insufficient_stock", product, unit=product.unit,
                       available=Decimal(short.available), requested=Decimal(short.requested))
    values = {"product": product, "unit": product.unit, "change": change,
              "stock": stock_level(session, product.id)}
    reason = Phrase(f"reason_{note}") if note in ADJUST_REASONS else note
    receipt = Notice(actor, "sms_stock_adjusted", {
        **values, "change": ("+" if change > 0 else "") + num(change), "reason": reason},
        to_actor=True)
    return Outcome(params=values, subject=product, notices=[receipt])


def ledger(session: Session, cooperative_id: int, *, product_id: int | None = None,
           reason: str | None = None, limit: int = 50, offset: int = 0
           ) -> tuple[list[StockMovement], int]:
    """The cooperative's stock movements, newest first, filtered; and how many match."""
    where = [Product.cooperative_id == cooperative_id]
    if product_id:
        where.append(StockMovement.product_id == product_id)
    if reason:
        where.append(StockMovement.reason == reason)
    base = select(StockMovement).join(Product, Product.id == StockMovement.product_id)
    total = session.scalar(select(func.count()).select_from(
        base.where(*where).subquery())) or 0
    rows = list(session.scalars(base.where(*where).order_by(StockMovement.id.desc())
                                .offset(offset).limit(limit)))
    return rows, total
