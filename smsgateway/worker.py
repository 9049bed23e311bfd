"""The RQ worker: jobs run inside the app's context, without a fork per job."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Flask
from rq import Queue, SimpleWorker
from rq.job import Job

from .queues import PRIORITY
from .redisconn import get_redis


class GatewayWorker(SimpleWorker):
    """A SimpleWorker that runs each job inside a Flask app context.

    Forking once per message would cost more than sending it; the engine is therefore
    created once in this process and reused by every job.
    """

    flask_app: Flask

    def execute_job(self, job: Job, queue: Queue) -> None:
        with self.flask_app.app_context():
            super().execute_job(job, queue)


def make_worker(app: Flask, queues: Sequence[str] = PRIORITY, name: str | None = None
                ) -> GatewayWorker:
    """A worker for ``queues`` (served in that order) on the app's Redis."""
    connection = get_redis(app)
    worker = GatewayWorker([Queue(q, connection=connection) for q in queues],
                           connection=connection, name=name)
    worker.flask_app = app
    return worker


def run_burst(app: Flask, queues: Sequence[str] = PRIORITY) -> bool:
    """Run every queued job, then return (used by tests and one-off commands)."""
    return make_worker(app, queues).work(burst=True, logging_level="WARNING")
