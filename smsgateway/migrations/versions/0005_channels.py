"""channels as records: kind, owner, settings, encrypted secrets, state, rates, health

Revision ID: 0005
Revises: 0003

Existing messages keep ``channel_id`` NULL: they were sent by the environment's provider,
which the gateway now keeps as a shared channel it creates on first use.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import smsgateway.db

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = ("active", "disabled", "down")


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("cooperative_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=40), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("secrets", sa.Text(), nullable=False),
        sa.Column("state", sa.Enum(*STATES, name="channel_state", native_enum=False,
                                   create_constraint=True, length=8), nullable=False),
        sa.Column("rate_per_minute", sa.Integer(), nullable=True),
        sa.Column("rate_per_hour", sa.Integer(), nullable=True),
        sa.Column("rate_per_day", sa.Integer(), nullable=True),
        sa.Column("last_seen", smsgateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("health", sa.JSON(), nullable=False),
        sa.Column("created_at", smsgateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", smsgateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["cooperative_id"], ["cooperatives.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index("ix_channels_cooperative_id", "channels", ["cooperative_id"])
    for table in ("inbound_messages", "outbound_messages"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("channel_id", sa.Integer(), nullable=True))
            batch.create_index(f"ix_{table}_channel_id", ["channel_id"])
            batch.create_foreign_key(f"fk_{table}_channel_id", "channels", ["channel_id"],
                                     ["id"])


def downgrade() -> None:
    for table in ("outbound_messages", "inbound_messages"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_channel_id", type_="foreignkey")
            batch.drop_index(f"ix_{table}_channel_id")
            batch.drop_column("channel_id")
    op.drop_index("ix_channels_cooperative_id", table_name="channels")
    op.drop_table("channels")
