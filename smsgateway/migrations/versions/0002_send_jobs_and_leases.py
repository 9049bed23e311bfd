"""outbound messages: the job meant to send each queued row, and leases on claimed rows

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 21:30:00

``job_id`` lets the maintenance sweep find queued rows whose RQ job is gone (never enqueued
while Redis was down, failed on a database error, lost with Redis); ``lease_until`` lets it
take back, within a minute, rows claimed by a worker that died. The partial index covers
only unfinished rows, so the sweep stays cheap however long the history grows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import smsgateway.db

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "status IN ('queued', 'sending')"


def upgrade() -> None:
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('job_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('lease_until', smsgateway.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_index('ix_outbound_messages_pending', ['status', 'lease_until'],
                              unique=False, postgresql_where=sa.text(PENDING),
                              sqlite_where=sa.text(PENDING))


def downgrade() -> None:
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbound_messages_pending')
        batch_op.drop_column('lease_until')
        batch_op.drop_column('job_id')
