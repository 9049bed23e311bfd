"""Alembic migrations build exactly the schema the models describe, and run both ways."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from smsgateway import migrate
from smsgateway.db import Base, Database


def test_migrated_schema_matches_models(database_url: str) -> None:
    database = Database(database_url)
    try:
        assert migrate.current_revision(database) == migrate.head_revision(database)
        with database.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        database.engine.dispose()


def test_downgrade_to_base_and_up_again(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    migrate.upgrade(database)
    migrate.downgrade(database, "base")
    assert sa.inspect(database.engine).get_table_names() == ["alembic_version"]
    migrate.upgrade(database)
    assert "stock_movements" in sa.inspect(database.engine).get_table_names()
    database.engine.dispose()


def test_sqlite_hands_back_the_connection_used_last(tmp_path: Path) -> None:
    # Threads that started at once opened several connections; one at a time afterwards
    # must keep getting the same one (its page cache warm), not each in turn.
    database = Database(f"sqlite:///{tmp_path / 'lifo.sqlite3'}")
    held = [database.engine.connect() for _ in range(3)]
    opened = {id(conn.connection.dbapi_connection) for conn in held}
    for conn in held:
        conn.close()
    used = set()
    for _ in range(6):
        with database.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            used.add(id(conn.connection.dbapi_connection))
    database.engine.dispose()
    assert len(opened) == 3 and len(used) == 1


def test_sqlite_connections_share_the_web_process_and_worker_settings(tmp_path: Path) -> None:
    from smsgateway.db import SQLITE_CHECKPOINT_PAGES

    database = Database(f"sqlite:///{tmp_path / 'pragmas.sqlite3'}")
    with database.engine.connect() as conn:
        read = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys",
                             "wal_autocheckpoint")}
    database.engine.dispose()
    # synchronous 1 is NORMAL: with WAL, safe from an application crash, never corrupted.
    assert read == {"journal_mode": "wal", "synchronous": 1, "busy_timeout": 30000,
                    "foreign_keys": 1, "wal_autocheckpoint": SQLITE_CHECKPOINT_PAGES}
