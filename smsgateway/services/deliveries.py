"""Members' deliveries of produce, and what the cooperative owes them."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from ..db import utcnow
from ..exceptions import InvalidTransition
from ..models import Channel, Delivery, DeliveryStatus, Member, MovementReason, Payment, Product
from . import audit
from .outcome import Money, Notice, Outcome, Phrase, attempt, refused
from .products import price_on
from .stock import move_stock

#: The largest delivery a member may record, whatever the channel: more is a typing slip (an
#: extra zero), not a harvest. The USSD menu's quantity screen asks for no more than this.
MAX_DELIVERY_QUANTITY = Decimal("10000")
#: Quantities are kept to the gram (three decimals).
QUANTITY_STEP = Decimal("0.001")


def quantity_error(quantity: Decimal) -> str | None:
    """Why ``quantity`` cannot be a delivery (``bad_quantity``, ``too_big``), or None."""
    if not quantity.is_finite() or quantity <= 0 or quantity != quantity.quantize(
            QUANTITY_STEP):
        return "bad_quantity"
    if quantity > MAX_DELIVERY_QUANTITY:
        return "too_big"
    return None


def record_delivery(
    session: Session, member: Member, product: Product, quantity: Decimal, channel: Channel
) -> Delivery:
    """Record a delivery, pending until a coordinator accepts it."""
    quantity = Decimal(quantity)
    if quantity_error(quantity):
        raise ValueError(f"no delivery of {quantity}: at most {MAX_DELIVERY_QUANTITY}, above 0")
    if product.cooperative_id != member.cooperative_id:
        raise PermissionError("the product belongs to another cooperative")
    delivery = Delivery(member_id=member.id, product_id=product.id, quantity=quantity,
                        channel=channel)
    session.add(delivery)
    session.flush()
    audit.record(session, "delivery.record", "delivery", delivery.id, channel=channel,
                 actor=member, details={"product": product.code, "quantity": str(quantity)})
    return delivery


def deliver(session: Session, member: Member, product_id: int, quantity: Decimal,
            channel: Channel) -> Outcome:
    """A member records a delivery, pending until a coordinator decides.

    Errors: ``not_found`` (no such product here), ``bad_quantity``, ``too_big`` (``max``).
    The member gets a receipt.
    """
    product = session.get(Product, product_id)
    if product is None or product.cooperative_id != member.cooperative_id:
        return refused("not_found")
    quantity = Decimal(quantity)
    error = quantity_error(quantity)
    if error:
        return refused(error, product, max=MAX_DELIVERY_QUANTITY)
    delivery = record_delivery(session, member, product, quantity, channel)
    values = {"delivery": delivery.id, "quantity": quantity, "unit": product.unit,
              "product": product}
    return Outcome(params=values, subject=delivery,
                   notices=[Notice(member, "delivery_recorded", values, to_actor=True)])


def find_delivery(session: Session, delivery_id: int, cooperative_id: int) -> Delivery | None:
    """The delivery ``delivery_id`` of one of the cooperative's members, or None."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or delivery.member.cooperative_id != cooperative_id:
        return None
    return delivery


def decide_delivery(session: Session, delivery_id: int, actor: Member, accept: bool,
                    channel: Channel) -> Outcome:
    """A coordinator accepts (into stock) or rejects a member's delivery; she is told by SMS.

    Errors: ``not_allowed``, ``not_found``, ``already_decided`` (``status``).
    """
    if not actor.is_coordinator:
        return refused("not_allowed")
    delivery = find_delivery(session, delivery_id, actor.cooperative_id)
    if delivery is None:
        return refused("not_found", delivery=delivery_id)
    decision = accept_delivery if accept else reject_delivery
    refusal = attempt(session, delivery, "delivery",
                      lambda: decision(session, delivery, actor, channel))
    if refusal is not None:
        return refusal
    owner, product = delivery.member, delivery.product
    values = {"delivery": delivery.id, "quantity": Decimal(delivery.quantity),
              "unit": product.unit, "product": product}
    told = Notice(owner, "sms_delivery_accepted" if accept else "sms_delivery_rejected",
                  {**values, "balance": Money(balance(session, owner))})
    outcome = Phrase("delivery_accepted" if accept else "delivery_rejected",
                     {"delivery": delivery.id})
    return Outcome(params={**values, "outcome": outcome}, subject=delivery, notices=[told])


def _decide(session: Session, delivery: Delivery, status: DeliveryStatus, actor: Member,
            **values: object) -> None:
    if not actor.is_coordinator or actor.cooperative_id != delivery.member.cooperative_id:
        raise PermissionError("only a coordinator of the member's cooperative may decide")
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.status == DeliveryStatus.PENDING)
        .values(status=status, decided_by_id=actor.id, decided_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.refresh(delivery)
        raise InvalidTransition(f"delivery {delivery.id} is already {delivery.status}")


def accept_delivery(session: Session, delivery: Delivery, actor: Member,
                    channel: Channel) -> Delivery:
    """Accept a pending delivery: it enters the stock and the member is owed the price in
    force on the day she recorded it."""
    product = delivery.product
    _decide(session, delivery, DeliveryStatus.ACCEPTED, actor,
            unit_price=price_on(session, product, delivery.created_at))
    movement = move_stock(
        session, product, delivery.quantity, MovementReason.DELIVERY, channel=channel,
        actor=actor, reference=f"delivery:{delivery.id}",
    )
    session.execute(update(Delivery).where(Delivery.id == delivery.id)
                    .values(movement_id=movement.id)
                    .execution_options(synchronize_session=False))
    session.refresh(delivery)
    audit.record(session, "delivery.accept", "delivery", delivery.id, channel=channel,
                 actor=actor)
    return delivery


def reject_delivery(session: Session, delivery: Delivery, actor: Member,
                    channel: Channel) -> Delivery:
    """Reject a pending delivery."""
    _decide(session, delivery, DeliveryStatus.REJECTED, actor)
    session.refresh(delivery)
    audit.record(session, "delivery.reject", "delivery", delivery.id, channel=channel,
                 actor=actor)
    return delivery


def pending_deliveries(session: Session, cooperative_id: int) -> list[Delivery]:
    """Deliveries of the cooperative's members waiting for a decision, oldest first."""
    return list(
        session.scalars(
            select(Delivery)
            .join(Member, Member.id == Delivery.member_id)
            .where(Member.cooperative_id == cooperative_id,
                   Delivery.status == DeliveryStatus.PENDING)
            .order_by(Delivery.created_at, Delivery.id)
        )
    )


def recent_deliveries(session: Session, member: Member, limit: int = 5) -> list[Delivery]:
    """The member's latest deliveries, newest first."""
    return list(
        session.scalars(
            select(Delivery).where(Delivery.member_id == member.id)
            .order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(limit)
        )
    )


# Built once: SOLDE by SMS runs them per message, and building a select costs as much as
# running it.
_EARNED = select(func.coalesce(func.sum(Delivery.quantity * Delivery.unit_price), 0)).where(
    Delivery.member_id == bindparam("member"), Delivery.status == DeliveryStatus.ACCEPTED)
_PAID = select(func.coalesce(func.sum(Payment.amount), 0)).where(
    Payment.member_id == bindparam("member"))


def balance(session: Session, member: Member) -> Decimal:
    """What the cooperative owes the member: accepted deliveries at their price, less payments."""
    earned = session.scalar(_EARNED, {"member": member.id})
    paid = session.scalar(_PAID, {"member": member.id})
    return (Decimal(earned) - Decimal(paid)).quantize(Decimal("0.01"))


#: A delivery this many times her usual quantity asks the coordinator once more.
UNUSUAL_FACTOR = Decimal("3")
#: Her usual needs this many accepted deliveries of the product (fewer: nothing is usual yet).
USUAL_AFTER = 3


def usual_quantity(session: Session, delivery: Delivery, last: int = 10) -> Decimal | None:
    """The median of her last accepted deliveries of the product, None with too few."""
    quantities = sorted(session.scalars(
        select(Delivery.quantity).where(Delivery.member_id == delivery.member_id,
                                        Delivery.product_id == delivery.product_id,
                                        Delivery.status == DeliveryStatus.ACCEPTED,
                                        Delivery.id != delivery.id)
        .order_by(Delivery.id.desc()).limit(last)))
    if len(quantities) < USUAL_AFTER:
        return None
    middle = len(quantities) // 2
    if len(quantities) % 2:
        return quantities[middle]
    return (quantities[middle - 1] + quantities[middle]) / 2


def far_above_usual(session: Session, delivery: Delivery) -> Decimal | None:
    """Her usual quantity when this delivery is far above it (a typo, 50 for 5?), else None."""
    usual = usual_quantity(session, delivery)
    if usual is not None and delivery.quantity > usual * UNUSUAL_FACTOR:
        return usual
    return None
