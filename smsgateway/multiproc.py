"""Prometheus' multiprocess mode for gunicorn: one directory of counters shared by its workers.

Imported by ``gunicorn_conf`` before any worker imports ``prometheus_client`` (which reads
``PROMETHEUS_MULTIPROC_DIR`` once, at import); this module itself must not import it at the top.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

ENV = "PROMETHEUS_MULTIPROC_DIR"
_created: list[Path] = []


def prepare_dir() -> Path:
    """Use ``$PROMETHEUS_MULTIPROC_DIR`` (emptied) or a new temporary one, and export it."""
    given = os.environ.get(ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        # Files of a previous run would add its counts to this one's.
        for stale in path.glob("*.db"):
            stale.unlink()
    else:
        path = Path(tempfile.mkdtemp(prefix="smsgateway-metrics-"))
        os.environ[ENV] = str(path)
        _created.append(path)
    return path


def child_exit(_server: Any, worker: Any) -> None:
    """Gunicorn hook: forget the live gauges of a worker that exited (counters are kept)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(_server: Any) -> None:
    """Gunicorn hook: remove the temporary directory this master created."""
    for path in _created:
        shutil.rmtree(path, ignore_errors=True)
