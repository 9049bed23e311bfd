"""The audit log: who changed what, through which channel."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, event
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow
from ..exceptions import ImmutableRecord
from .types import JsonDict


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int | None] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    actor_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    actor_label: Mapped[str] = mapped_column(String(100), default="")
    channel: Mapped[str] = mapped_column(String(10))
    action: Mapped[str] = mapped_column(String(60))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int | None]
    details: Mapped[JsonDict]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


@event.listens_for(AuditLog, "before_update")
@event.listens_for(AuditLog, "before_delete")
def _audit_is_append_only(_mapper: object, _conn: object, target: AuditLog) -> None:
    raise ImmutableRecord(f"audit entry {target.id} cannot be changed")
