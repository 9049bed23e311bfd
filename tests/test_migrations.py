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
