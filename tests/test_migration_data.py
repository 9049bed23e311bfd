"""Migrating a database filled by the previous release's ``seed-demo`` keeps every row.

``data/seed_demo_0003.json`` is what ``smsgateway seed-demo`` wrote at revision 0003 (every
table, every column, as SQLite stored it); the test loads it into a database at 0003 on the
suite's server (SQLite or PostgreSQL), migrates to the newest revision and back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from smsgateway import migrate
from smsgateway.db import Database
from smsgateway.security import check_password

SEEDED = json.loads((Path(__file__).parent / "data" / "seed_demo_0003.json").read_text())
#: Tables the newer revisions leave in place: every row of them must still be there.
KEPT = ("audit_log", "cooperatives", "deliveries", "groups", "member_groups", "members",
        "orders", "products", "resolutions", "stock_movements")


@pytest.fixture
def old_database(database_url: str, tmp_path: Path) -> Iterator[Database]:
    """An empty database of its own at 0003 on the suite's server."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
        admin = None
    else:
        name = f"smsgateway_mig_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.make_url(database_url).set(database=name).render_as_string(
            hide_password=False)
    database = Database(url)
    migrate.upgrade(database, "0003")
    yield database
    database.engine.dispose()
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _value(column: sa.Column[Any], value: Any) -> Any:
    # SQLite kept booleans as 0/1, JSON and times as text: give each its column's type.
    if value is None:
        return None
    if isinstance(column.type, sa.Boolean):
        return bool(value)
    if isinstance(column.type, sa.JSON):
        return json.loads(value)
    if isinstance(column.type, sa.DateTime):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value


def _load(database: Database) -> None:
    metadata = sa.MetaData()
    metadata.reflect(database.engine)
    with database.engine.begin() as conn:
        for table in metadata.sorted_tables:
            rows = SEEDED.get(table.name, [])
            if rows:
                conn.execute(table.insert(), [
                    {key: _value(table.c[key], value) for key, value in row.items()}
                    for row in rows])
        if conn.dialect.name == "postgresql":
            for table in metadata.sorted_tables:
                if "id" in table.c and SEEDED.get(table.name):
                    conn.execute(sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT max(id) FROM {table.name}))"))


def _count(database: Database, table: str) -> int:
    with database.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_upgrade_keeps_every_row_and_moves_the_password_to_an_account(
    old_database: Database,
) -> None:
    _load(old_database)
    migrate.upgrade(old_database)
    for table in KEPT:
        assert _count(old_database, table) == len(SEEDED[table]), table
    coordinator = next(m for m in SEEDED["members"] if m["password_hash"])
    with old_database.engine.connect() as conn:
        account = conn.execute(sa.text(
            "SELECT phone, role, cooperative_id, member_id, password_hash FROM accounts"
        )).one()
    assert account[:4] == (coordinator["phone"], "coordinator", coordinator["cooperative_id"],
                           coordinator["id"])
    assert check_password(account.password_hash, "argan-demo")
    with old_database.engine.connect() as conn:
        pins = dict(conn.execute(sa.text("SELECT phone, pin_hash FROM phone_credentials")).all())
        prices = conn.execute(sa.text(
            "SELECT product_id, member_price FROM product_prices ORDER BY product_id")).all()
    assert pins == {m["phone"]: m["pin_hash"] for m in SEEDED["members"]}
    assert [(p, float(v)) for p, v in prices] == [
        (p["id"], float(p["member_price"])) for p in SEEDED["products"]]


def test_downgrade_gives_the_password_back_to_the_membership(old_database: Database) -> None:
    _load(old_database)
    migrate.upgrade(old_database)
    migrate.downgrade(old_database, "0003")
    for table in KEPT:
        assert _count(old_database, table) == len(SEEDED[table]), table
    with old_database.engine.connect() as conn:
        hashes = dict(conn.execute(sa.text("SELECT phone, password_hash FROM members")).all())
        pins = dict(conn.execute(sa.text("SELECT phone, pin_hash FROM members")).all())
    assert check_password(hashes["+212600000001"], "argan-demo")
    assert pins == {m["phone"]: m["pin_hash"] for m in SEEDED["members"]}
    assert [p for p, h in hashes.items() if h] == ["+212600000001"]
