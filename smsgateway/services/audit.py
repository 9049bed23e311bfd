"""Writing the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..models import AuditLog, Member


def record(
    session: Session,
    action: str,
    entity: str,
    entity_id: int | None,
    *,
    channel: str,
    actor: Member | None = None,
    actor_label: str = "",
    cooperative_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    """Add an audit entry for a change (in the caller's transaction)."""
    entry = AuditLog(
        action=action,
        entity=entity,
        entity_id=entity_id,
        channel=str(channel),
        actor_member_id=actor.id if actor else None,
        actor_label=actor_label or (actor.phone if actor else ""),
        cooperative_id=cooperative_id if cooperative_id is not None else (
            actor.cooperative_id if actor else None
        ),
        details=details or {},
    )
    session.add(entry)
    return entry
