"""one PIN per phone with one-time codes; price history; cooperative timezone, USSD code,
sender; who may vote and the quorum

Revision ID: 0004b
Revises: 0004

Every PIN moves from its memberships to its phone (a phone in two cooperatives keeps the PIN
of its first membership); every product gets its current member price as its first price,
valid from its creation, so past deliveries keep their value.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import smsgateway.db

revision: str = "0004b"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = smsgateway.db.UTCDateTime(timezone=True)
KINDS = ("reply", "confirmation", "alert", "broadcast")


def _kinds(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name="message_kind", native_enum=False, create_constraint=True,
                   length=12)


def _swap_kinds(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    # The CHECK constraint lists the kinds: replace it (SQLite rebuilds the table).
    with op.batch_alter_table("outbound_messages") as batch:
        batch.alter_column("kind", existing_type=_kinds(old), type_=_kinds(new),
                           existing_nullable=False)


def upgrade() -> None:
    _swap_kinds(KINDS, (*KINDS, "secret"))
    op.create_table(
        "phone_credentials",
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("pin_hash", sa.String(length=200), nullable=True),
        sa.Column("pin_set_at", TIME, nullable=True),
        sa.Column("code_hash", sa.String(length=200), nullable=True),
        sa.Column("code_issued_at", TIME, nullable=True),
        sa.Column("code_expires_at", TIME, nullable=True),
        sa.Column("code_used_at", TIME, nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_phone_credentials")),
    )
    op.execute("""
        INSERT INTO phone_credentials (phone, pin_hash, pin_set_at, updated_at)
        SELECT m.phone, m.pin_hash, m.created_at, m.created_at FROM members m
        WHERE m.pin_hash IS NOT NULL
          AND m.id = (SELECT min(o.id) FROM members o
                      WHERE o.phone = m.phone AND o.pin_hash IS NOT NULL)
    """)
    with op.batch_alter_table("members") as batch:
        batch.drop_column("pin_hash")

    op.create_table(
        "product_prices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("member_price", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("valid_from", TIME, nullable=False),
        sa.Column("actor_label", sa.String(length=100), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"],
                                name=op.f("fk_product_prices_product_id_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_prices")),
    )
    op.create_index(op.f("ix_product_prices_product_id"), "product_prices", ["product_id"],
                    unique=False)
    op.execute("""
        INSERT INTO product_prices (product_id, member_price, valid_from, actor_label,
                                    created_at)
        SELECT id, member_price, created_at, 'migration', created_at FROM products
    """)

    with op.batch_alter_table("cooperatives") as batch:
        batch.add_column(sa.Column("timezone", sa.String(length=64), nullable=False,
                                   server_default="Africa/Casablanca"))
        batch.add_column(sa.Column("ussd_code", sa.String(length=30), nullable=True))
        batch.add_column(sa.Column("sender_name", sa.String(length=11), nullable=True))
        batch.create_unique_constraint(op.f("uq_cooperatives_ussd_code"), ["ussd_code"])
    with op.batch_alter_table("cooperatives") as batch:
        batch.alter_column("timezone", server_default=None)

    with op.batch_alter_table("resolutions") as batch:
        batch.add_column(sa.Column("voter_groups", sa.JSON(), nullable=False,
                                   server_default="[]"))
        batch.add_column(sa.Column("quorum_percent", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("results_sent_at", TIME, nullable=True))
        batch.add_column(sa.Column("created_by_label", sa.String(length=100), nullable=False,
                                   server_default=""))
    with op.batch_alter_table("resolutions") as batch:
        for column in ("voter_groups", "quorum_percent", "created_by_label"):
            batch.alter_column(column, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("resolutions") as batch:
        for column in ("created_by_label", "results_sent_at", "quorum_percent",
                       "voter_groups"):
            batch.drop_column(column)
    with op.batch_alter_table("cooperatives") as batch:
        batch.drop_constraint(op.f("uq_cooperatives_ussd_code"), type_="unique")
        for column in ("sender_name", "ussd_code", "timezone"):
            batch.drop_column(column)
    op.drop_index(op.f("ix_product_prices_product_id"), table_name="product_prices")
    op.drop_table("product_prices")
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("pin_hash", sa.String(length=200), nullable=True))
    op.execute("""
        UPDATE members SET pin_hash = (
            SELECT c.pin_hash FROM phone_credentials c WHERE c.phone = members.phone)
    """)
    op.drop_table("phone_credentials")
    # A code's SMS becomes an alert again (its text was never shown; it stays unshown).
    op.execute("UPDATE outbound_messages SET kind = 'alert' WHERE kind = 'secret'")
    _swap_kinds((*KINDS, "secret"), KINDS)
