"""Fault tests: each records what it measured, printed under the test and in a summary table
at the end of the run (so the figures reach CI's output without ``-s``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import RedisProcess

_MEASURED: list[tuple[str, dict[str, Any]]] = []


@pytest.fixture
def measured(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A dict the test fills with its figures (sent, received, duplicates, lost, ...)."""
    figures: dict[str, Any] = {}
    _MEASURED.append((request.node.nodeid.split("::")[-1], figures))
    return figures


def report(figures: dict[str, Any], **values: Any) -> None:
    """Record figures and print them under the test."""
    figures.update(values)
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The figures of every fault test that ran, one line each."""
    if not _MEASURED:
        return
    terminalreporter.section("fault tests: what they measured")
    for name, figures in _MEASURED:
        line = " ".join(f"{k}={v}" for k, v in figures.items()) or "(nothing measured)"
        terminalreporter.write_line(f"{name}: {line}")


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server of this test's own on a private port."""
    server = RedisProcess(tmp_path / "own-redis")
    server.start()
    yield server
    server.stop()


# The database-down tests cut a proxy in front of a networked database: on the SQLite leg
# (no DATABASE_URL) there is nothing to cut, so they are not collected.
collect_ignore = [] if (os.environ.get("DATABASE_URL") or "").startswith("postgres") else [
    "test_database_down.py"]
