"""The database: declarative base, engine and sessions, kept in ``app.extensions``."""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

EXTENSION = "smsgateway.db"

# Names for constraints so that Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware time")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base class of every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        engine_ref = weakref.ref(self.engine)

        def _after_fork() -> None:
            # A forked child must not reuse the parent's sockets: drop them without closing.
            engine = engine_ref()
            if engine is not None:
                engine.dispose(close=False)

        os.register_at_fork(after_in_child=_after_fork)

    @property
    def kind(self) -> str:
        """``embedded`` for SQLite, ``server`` for PostgreSQL."""
        return "embedded" if self.engine.dialect.name == "sqlite" else "server"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> None:
        """Raise if the database does not answer."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))


#: WAL pages (4 KiB each) after which a commit copies them back into the database file.
SQLITE_CHECKPOINT_PAGES = 4000


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine; SQLite gets the pragmas that let a web process and a worker share it."""
    if url.startswith("sqlite"):
        # The pool hands back the connection used last (LIFO), not each in turn: a SQLite
        # connection's page cache is dropped whenever another connection wrote since it last
        # read, so a process rotating through the eight its threads opened at start read
        # every page of every message from the file again (docs/benchmarks.md).
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30},
                               pool_use_lifo=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            # Fewer, larger checkpoints (16 MB of WAL instead of SQLite's 4 MB): the index
            # pages every message touches are copied into the database once per checkpoint,
            # so a quarter as often is a quarter of those writes (docs/benchmarks.md). Safety
            # is as before: with synchronous=NORMAL a commit survives a crash of the process.
            cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
            cursor.close()

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


def sqlite_url(instance_path: str) -> str:
    """The embedded database in the instance folder."""
    return f"sqlite:///{Path(instance_path) / 'smsgateway.sqlite3'}"


def init_app(app: Flask) -> None:
    """Create the app's engine and close the request's session after each request."""
    settings = app.config["SETTINGS"]
    url = settings.database_url or sqlite_url(app.instance_path)
    app.extensions[EXTENSION] = Database(url)
    app.teardown_appcontext(_close_session)


def get_db(app: Flask | None = None) -> Database:
    """The app's :class:`Database`."""
    return (app or current_app).extensions[EXTENSION]


def get_session() -> Session:
    """The session of the current app context, opened on first use."""
    if "db_session" not in g:
        g.db_session = get_db().sessionmaker()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()
