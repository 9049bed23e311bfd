"""Cooperatives, their members and groups, and the products they keep in stock."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import Column, ForeignKey, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from menus.languages import LANGUAGES

from ..db import Base, utcnow
from ..phones import normalize_phone
from .types import JsonDict, Money, str_enum

if TYPE_CHECKING:
    from .stock import StockMovement


#: FR, AR, ZGH, EN: built from the one list of languages (a new one needs a migration too).
Language = enum.StrEnum("Language", [(code.upper(), code) for code in LANGUAGES])


DEFAULT_TIMEZONE = "Africa/Casablanca"


class Role(enum.StrEnum):
    MEMBER = "member"
    COORDINATOR = "coordinator"


class Cooperative(Base):
    __tablename__ = "cooperatives"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(200))
    default_language: Mapped[Language] = mapped_column(
        str_enum(Language, "language"), default=Language.FR
    )
    # Where its members live: what "today" and a vote's closing time mean for them.
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE)
    # Its own USSD service code or extension ("*384*77#", "77"); NULL: it shares the code.
    ussd_code: Mapped[str | None] = mapped_column(String(30), unique=True)
    # The SMS sender members see (an alphanumeric sender of up to 11 characters).
    sender_name: Mapped[str | None] = mapped_column(String(11))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list[Member]] = relationship(back_populates="cooperative")
    products: Mapped[list[Product]] = relationship(back_populates="cooperative")
    groups: Mapped[list[Group]] = relationship(back_populates="cooperative")

    def __repr__(self) -> str:
        return f"<Cooperative {self.slug}>"


member_groups = Table(
    "member_groups",
    Base.metadata,
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
)


class Group(Base):
    """A village, a product line, a committee: any set of members to address together."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("cooperative_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(30), default="village")

    cooperative: Mapped[Cooperative] = relationship(back_populates="groups")
    members: Mapped[list[Member]] = relationship(secondary=member_groups, back_populates="groups")


class Member(Base):
    """A person who belongs to a cooperative, reached by phone."""

    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("cooperative_id", "phone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    phone: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[Language] = mapped_column(str_enum(Language, "language"), default=Language.FR)
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"), default=Role.MEMBER)
    active: Mapped[bool] = mapped_column(default=True)
    opted_out: Mapped[bool] = mapped_column(default=False, index=True)
    opted_out_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    cooperative: Mapped[Cooperative] = relationship(back_populates="members")
    groups: Mapped[list[Group]] = relationship(secondary=member_groups, back_populates="members")

    @validates("phone")
    def _normalize_phone(self, _key: str, value: str) -> str:
        # Callers read the number with the configured region first: here it is international.
        return normalize_phone(value, None)

    @property
    def is_coordinator(self) -> bool:
        """Whether the member may decide orders, deliveries and alerts."""
        return self.role == Role.COORDINATOR

    def __repr__(self) -> str:
        return f"<Member {self.phone} {self.role}>"


class Product(Base):
    """Something the cooperative stocks: argan oil by the litre, amlou by the kilogram."""

    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("cooperative_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    # The ASCII word members type in SMS commands (AMLOU, ARGAN).
    code: Mapped[str] = mapped_column(String(30))
    names: Mapped[JsonDict]
    unit: Mapped[str] = mapped_column(String(20))
    # What the cooperative pays a member per unit delivered, and charges a buyer per unit sold.
    member_price: Mapped[Money] = mapped_column(default=Decimal("0"))
    sale_price: Mapped[Money] = mapped_column(default=Decimal("0"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    cooperative: Mapped[Cooperative] = relationship(back_populates="products")
    movements: Mapped[list[StockMovement]] = relationship(back_populates="product")
    prices: Mapped[list[ProductPrice]] = relationship(
        back_populates="product", order_by="ProductPrice.valid_from")

    def name_in(self, language: str, fallback: str = "fr") -> str:
        """The product's name in ``language``, else the fallback language, else its code."""
        return self.names.get(language) or self.names.get(fallback) or self.code

    def __repr__(self) -> str:
        return f"<Product {self.code}>"


class ProductPrice(Base):
    """The member price of a product from ``valid_from`` on: rows are added, never changed.

    A delivery is valued at the price in force on its date; ``Product.member_price`` is the
    one in force now, kept for the screens that show it.
    """

    __tablename__ = "product_prices"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    member_price: Mapped[Money]
    valid_from: Mapped[datetime]
    actor_label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    product: Mapped[Product] = relationship(back_populates="prices")
