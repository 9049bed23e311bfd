"""One PIN per phone, whatever the cooperatives she belongs to, and the one-time code that
lets a member choose it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow


class PhoneCredential(Base):
    """A phone's PIN hash and its pending one-time code (hashed too: neither is ever stored)."""

    __tablename__ = "phone_credentials"

    phone: Mapped[str] = mapped_column(String(16), primary_key=True)
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    pin_set_at: Mapped[datetime | None]
    code_hash: Mapped[str | None] = mapped_column(String(200))
    code_issued_at: Mapped[datetime | None]
    code_expires_at: Mapped[datetime | None]
    code_used_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def code_usable(self, now: datetime) -> bool:
        """Whether a one-time code is waiting, unused and unexpired."""
        return (self.code_hash is not None and self.code_used_at is None
                and self.code_expires_at is not None and now < self.code_expires_at)

    def __repr__(self) -> str:
        return f"<PhoneCredential {self.phone}>"
