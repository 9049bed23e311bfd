"""accounts: dashboard sign-in moves from members to accounts (administrators, coordinators)

Revision ID: 0004
Revises: 0003

Every coordinator who had a dashboard password gets an account with that same password hash
(her phone stays her login); the column leaves ``members``. Downgrading puts the hashes of
coordinator accounts back on their memberships; administrators have none to go back to.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import smsgateway.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(*values: str, name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("role", _enum("administrator", "coordinator", name="account_role"),
                  nullable=False),
        sa.Column("cooperative_id", sa.Integer(), nullable=True),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("language", _enum("fr", "ar", "zgh", "en", name="language"), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", smsgateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["cooperative_id"], ["cooperatives.id"],
                                name=op.f("fk_accounts_cooperative_id_cooperatives")),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"],
                                name=op.f("fk_accounts_member_id_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("phone", name=op.f("uq_accounts_phone")),
    )
    op.create_index(op.f("ix_accounts_cooperative_id"), "accounts", ["cooperative_id"],
                    unique=False)
    # One account per phone: a coordinator of two cooperatives keeps her first membership's
    # password, the one the old sign-in checked (it took the lowest member id).
    op.execute("""
        INSERT INTO accounts (phone, name, password_hash, role, cooperative_id, member_id,
                              language, active, created_at)
        SELECT m.phone, m.name, m.password_hash, 'coordinator', m.cooperative_id, m.id,
               m.language, m.active, m.created_at
        FROM members m
        WHERE m.password_hash IS NOT NULL AND m.role = 'coordinator'
          AND m.id = (SELECT min(o.id) FROM members o
                      WHERE o.phone = m.phone AND o.password_hash IS NOT NULL
                        AND o.role = 'coordinator')
    """)
    with op.batch_alter_table("members") as batch:
        batch.drop_column("password_hash")


def downgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))
    op.execute("""
        UPDATE members SET password_hash = (
            SELECT a.password_hash FROM accounts a WHERE a.member_id = members.id)
        WHERE id IN (SELECT member_id FROM accounts WHERE member_id IS NOT NULL)
    """)
    op.drop_index(op.f("ix_accounts_cooperative_id"), table_name="accounts")
    op.drop_table("accounts")
