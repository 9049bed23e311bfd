"""Dashboard accounts: the operator's administrators and the cooperatives' coordinators."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from ..db import Base, utcnow
from ..phones import normalize_phone
from .coop import Cooperative, Language, Member
from .types import str_enum


class AccountRole(enum.StrEnum):
    """An administrator sees every cooperative; a coordinator only her own."""

    ADMINISTRATOR = "administrator"
    COORDINATOR = "coordinator"


class Account(Base):
    """Someone who signs in to the dashboard with her phone and a password (never a PIN)."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    # E.164, the sign-in login: one account per phone.
    phone: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[AccountRole] = mapped_column(str_enum(AccountRole, "account_role"))
    # NULL for administrators.
    cooperative_id: Mapped[int | None] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    # The coordinator's membership, through which she decides orders and deliveries.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    language: Mapped[Language] = mapped_column(str_enum(Language, "language"),
                                               default=Language.FR)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    cooperative: Mapped[Cooperative | None] = relationship()
    member: Mapped[Member | None] = relationship()

    @validates("phone")
    def _normalize_phone(self, _key: str, value: str) -> str:
        return normalize_phone(value, None)

    @property
    def is_administrator(self) -> bool:
        """Whether the account sees and manages every cooperative."""
        return self.role == AccountRole.ADMINISTRATOR

    @property
    def label(self) -> str:
        """How audit rows name this account."""
        return f"account:{self.phone}"

    def __repr__(self) -> str:
        return f"<Account {self.phone} {self.role}>"
