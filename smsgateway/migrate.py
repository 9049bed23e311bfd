"""Applying Alembic migrations from code (``smsgateway db upgrade``, ``make run``, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from .db import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database: Database) -> Config:
    """An Alembic config bound to the gateway's database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = database.url
    return config


def upgrade(database: Database, revision: str = "head") -> None:
    """Migrate the database up to ``revision``."""
    command.upgrade(alembic_config(database), revision)


def downgrade(database: Database, revision: str) -> None:
    """Migrate the database down to ``revision``."""
    command.downgrade(alembic_config(database), revision)


def current_revision(database: Database) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    with database.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(database: Database) -> str | None:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config(database)).get_current_head()


def revision(database: Database, message: str) -> None:
    """Autogenerate a new migration from the models (for developers)."""
    command.revision(alembic_config(database), message=message, autogenerate=True)
