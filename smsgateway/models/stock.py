"""The stock ledger, members' deliveries and payments, and buyers' orders."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, String, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, utcnow
from ..exceptions import ImmutableRecord
from .coop import Cooperative, Member, Product
from .messaging import Channel
from .types import Money, Quantity, str_enum


class MovementReason(enum.StrEnum):
    INITIAL = "initial"
    DELIVERY = "delivery"
    ORDER = "order"
    ORDER_RELEASE = "order_release"
    ADJUSTMENT = "adjustment"


class StockMovement(Base):
    """One signed change of a product's stock. Rows are only ever added: the level is their sum."""

    __tablename__ = "stock_movements"
    __table_args__ = (CheckConstraint("quantity <> 0", name="nonzero"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[Quantity]
    reason: Mapped[MovementReason] = mapped_column(str_enum(MovementReason, "movement_reason"))
    note: Mapped[str] = mapped_column(String(300), default="")
    # Who made the change: a member, or a label such as "cli" or "dashboard:+2126...".
    actor_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    actor_label: Mapped[str] = mapped_column(String(100), default="")
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "channel"))
    # What the movement belongs to, e.g. "order:12" or "delivery:7".
    reference: Mapped[str | None] = mapped_column(String(60), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    product: Mapped[Product] = relationship(back_populates="movements")
    actor: Mapped[Member | None] = relationship()


@event.listens_for(StockMovement, "before_update")
@event.listens_for(StockMovement, "before_delete")
def _ledger_is_append_only(_mapper: object, _conn: object, target: StockMovement) -> None:
    raise ImmutableRecord(f"stock movement {target.id} cannot be changed; add a correcting one")


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Delivery(Base):
    """Produce a member brings in; it enters the ledger once a coordinator accepts it."""

    __tablename__ = "deliveries"
    __table_args__ = (CheckConstraint("quantity > 0", name="positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[Quantity]
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING, index=True
    )
    # The member price at the time of acceptance: what the cooperative owes for it.
    unit_price: Mapped[Money | None]
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "channel"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    decided_at: Mapped[datetime | None]
    movement_id: Mapped[int | None] = mapped_column(ForeignKey("stock_movements.id"))

    member: Mapped[Member] = relationship(foreign_keys=[member_id])
    product: Mapped[Product] = relationship()
    decided_by: Mapped[Member | None] = relationship(foreign_keys=[decided_by_id])

    @property
    def amount(self) -> Decimal:
        """What the cooperative owes for this delivery (zero until accepted)."""
        if self.status != DeliveryStatus.ACCEPTED or self.unit_price is None:
            return Decimal("0")
        return self.quantity * self.unit_price


class Payment(Base):
    """Money the cooperative paid a member."""

    __tablename__ = "payments"
    __table_args__ = (CheckConstraint("amount > 0", name="positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    amount: Mapped[Money]
    note: Mapped[str] = mapped_column(String(300), default="")
    actor_label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    member: Mapped[Member] = relationship()


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Order(Base):
    """A buyer's order; confirming it reserves the stock."""

    __tablename__ = "orders"
    __table_args__ = (CheckConstraint("quantity > 0", name="positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    buyer_name: Mapped[str] = mapped_column(String(200))
    buyer_phone: Mapped[str | None] = mapped_column(String(16))
    quantity: Mapped[Quantity]
    unit_price: Mapped[Money]
    status: Mapped[OrderStatus] = mapped_column(
        str_enum(OrderStatus, "order_status"), default=OrderStatus.PENDING, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    decided_at: Mapped[datetime | None]
    decision_channel: Mapped[Channel | None] = mapped_column(str_enum(Channel, "channel"))

    cooperative: Mapped[Cooperative] = relationship()
    product: Mapped[Product] = relationship()
    decided_by: Mapped[Member | None] = relationship()

    @property
    def total(self) -> Decimal:
        """Quantity times unit price."""
        return self.quantity * self.unit_price
