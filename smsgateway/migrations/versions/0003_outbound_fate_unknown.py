"""outbound status 'unknown': a request that timed out after reaching the provider

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("queued", "sending", "sent", "delivered", "failed", "expired")
NEW = (*OLD, "unknown")


def _status(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name="outbound_status", native_enum=False, create_constraint=True,
                   length=9)


def _swap(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    # The CHECK constraint lists the statuses: replace it (SQLite rebuilds the table).
    with op.batch_alter_table("outbound_messages") as batch:
        batch.alter_column("status", existing_type=_status(old), type_=_status(new),
                           existing_nullable=False)


def upgrade() -> None:
    _swap(OLD, NEW)


def downgrade() -> None:
    op.execute("UPDATE outbound_messages SET status = 'queued' WHERE status = 'unknown'")
    _swap(NEW, OLD)
