"""The RQ worker: jobs run inside the app's context, without a fork per job.

This is where jobs are wired to the app: each job reads the settings, Redis and database from
the app context the worker opens around it, once, and hands them to the code it calls.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import Flask
from rq import Queue, SimpleWorker
from rq.job import Job

from . import reconcile
from .db import get_db
from .logs import job_context
from .queues import PRIORITY
from .redisconn import get_redis
from .services import channel_health

#: How often a worker runs its maintenance (RQ's registries, the sweep, stalled fan-outs),
#: even when idle. With ``broadcast.lease_seconds`` (45 s) a dead worker's messages are back
#: in a queue within a minute.
MAINTENANCE_SECONDS = 15


class GatewayWorker(SimpleWorker):
    """A SimpleWorker that runs each job inside a Flask app context.

    Forking once per message would cost more than sending it; the engine is therefore
    created once in this process and reused by every job.
    """

    flask_app: Flask

    @property
    def dequeue_timeout(self) -> int:
        """How long an idle worker blocks waiting for a job before it looks around again.

        RQ blocks for ``worker_ttl - 15`` (405 s) and runs maintenance only between two
        waits, so a check meant for every minute ran every seven. Waiting no longer than the
        maintenance interval costs one BLPOP per interval.
        """
        return MAINTENANCE_SECONDS

    def execute_job(self, job: Job, queue: Queue) -> None:
        with self.flask_app.app_context(), job_context(job):
            super().execute_job(job, queue)

    def run_maintenance_tasks(self) -> None:
        """RQ's housekeeping, then the sweep and stalled fan-outs (at start and every interval)."""
        from .broadcasts.fanout import resume_stalled
        from .sweep import sweep

        # A worker starting (after a crash, say) sweeps at once; later, one worker per interval.
        lock = 0 if self.last_cleaned_at is None else MAINTENANCE_SECONDS - 1
        try:
            super().run_maintenance_tasks()
            with self.flask_app.app_context():
                settings, redis, db = self.flask_app.config["SETTINGS"], get_redis(), get_db()
                sweep(settings, redis, db, lock_seconds=lock)
                resume_stalled(redis, db)
                reconcile.sweep()  # messages of unknown fate whose settle job Redis lost
                channel_health.watch(settings, redis, db)  # phones silent too long: down
        except Exception:  # noqa: BLE001 - housekeeping must not stop the worker (DB/Redis down)
            self.log.exception("maintenance failed; trying again in %ss", MAINTENANCE_SECONDS)


def make_worker(app: Flask, queues: Sequence[str] = PRIORITY, name: str | None = None
                ) -> GatewayWorker:
    """A worker for ``queues`` (served in that order) on the app's Redis."""
    connection = get_redis(app)
    worker = GatewayWorker([Queue(q, connection=connection) for q in queues],
                           connection=connection, name=name,
                           maintenance_interval=MAINTENANCE_SECONDS)
    worker.flask_app = app
    return worker


def run_burst(app: Flask, queues: Sequence[str] = PRIORITY) -> bool:
    """Run every queued job, then return (used by tests and one-off commands)."""
    return make_worker(app, queues).work(burst=True, logging_level="WARNING")
