"""The RQ worker: jobs run inside the app's context, without a fork per job."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Flask
from rq import Queue, SimpleWorker
from rq.job import Job

from .queues import PRIORITY
from .redisconn import get_redis

MAINTENANCE_SECONDS = 60


class GatewayWorker(SimpleWorker):
    """A SimpleWorker that runs each job inside a Flask app context.

    Forking once per message would cost more than sending it; the engine is therefore
    created once in this process and reused by every job.
    """

    flask_app: Flask

    def execute_job(self, job: Job, queue: Queue) -> None:
        with self.flask_app.app_context():
            super().execute_job(job, queue)

    def run_maintenance_tasks(self) -> None:
        """RQ's housekeeping, plus resuming what a killed worker left half done."""
        super().run_maintenance_tasks()
        from .broadcasts.fanout import resume_stalled
        from .reconcile import sweep
        from .sending import reap

        with self.flask_app.app_context():
            try:
                reap()
                resume_stalled()
                sweep()  # messages of unknown fate whose settle job Redis lost
            except Exception:  # noqa: BLE001 - housekeeping must not stop the worker
                self.log.exception("reaping stuck messages failed")


def make_worker(app: Flask, queues: Sequence[str] = PRIORITY, name: str | None = None
                ) -> GatewayWorker:
    """A worker for ``queues`` (served in that order) on the app's Redis."""
    connection = get_redis(app)
    worker = GatewayWorker([Queue(q, connection=connection) for q in queues],
                           connection=connection, name=name,
                           # Also how often stuck messages are looked for.
                           maintenance_interval=MAINTENANCE_SECONDS)
    worker.flask_app = app
    return worker


def run_burst(app: Flask, queues: Sequence[str] = PRIORITY) -> bool:
    """Run every queued job, then return (used by tests and one-off commands)."""
    return make_worker(app, queues).work(burst=True, logging_level="WARNING")
