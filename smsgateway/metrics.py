"""``GET /metrics`` in Prometheus' text format, with prometheus_client.

Two kinds of figures:

* per-process events (webhook latency, server errors) are counted where they happen. Gunicorn
  runs several worker processes, so the web process uses prometheus_client's multiprocess mode
  (``gunicorn_conf`` points ``PROMETHEUS_MULTIPROC_DIR`` at a directory the workers share and
  every scrape sums their files);
* the state of the system (messages by status, queue depths and the age of their oldest job,
  failed jobs, live USSD sessions) is read from the database and Redis at scrape time by
  :class:`StateCollector`: the same answer from whichever process is asked, nothing to sum,
  and the RQ worker processes need no metrics server of their own.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from rq import Queue
from sqlalchemy import func, select

from .db import get_db
from .models import InboundMessage, OutboundMessage
from .queues import PRIORITY
from .redisconn import get_redis
from .sessions import SESSION_KEY

bp = Blueprint("metrics", __name__)

#: Providers named in webhook paths; anything else is counted as "other" (bounded labels).
PROVIDERS = frozenset({"africastalking", "twilio", "console", "android"})
#: A USSD hop must answer well under a second; the buckets resolve that range finely.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0)
LOOPBACK = frozenset({"127.0.0.1", "::1"})

WEBHOOK_SECONDS = Histogram(
    "smsgateway_webhook_duration_seconds", "Time to answer a provider's webhook.",
    ["provider", "kind"], buckets=LATENCY_BUCKETS)
SERVER_ERRORS = Counter(
    "smsgateway_http_server_errors", "Responses with a 5xx status, by endpoint.", ["endpoint"])


@dataclass(frozen=True)
class QueueState:
    """One RQ queue at a glance."""

    name: str
    depth: int
    oldest_age: float
    scheduled: int
    started: int
    deferred: int
    failed: int


def _age(moment: datetime | None, now: datetime) -> float:
    if moment is None:
        return 0.0
    if moment.tzinfo is None:  # RQ stores UTC
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (now - moment).total_seconds())


def queue_states(connection: redis.Redis) -> list[QueueState]:
    """Every queue in priority order: depth, oldest job's age, and its registries' sizes."""
    now = datetime.now(UTC)
    states = []
    for name in PRIORITY:
        queue = Queue(name, connection=connection)
        head = queue.get_job_ids(0, 1)
        job = queue.fetch_job(head[0]) if head else None
        states.append(QueueState(
            name=name, depth=queue.count,
            oldest_age=_age(job.enqueued_at if job else None, now),
            scheduled=queue.scheduled_job_registry.get_job_count(cleanup=False),
            started=queue.started_job_registry.get_job_count(cleanup=False),
            deferred=queue.deferred_job_registry.get_job_count(cleanup=False),
            failed=queue.failed_job_registry.get_job_count(cleanup=False)))
    return states


def count_ussd_sessions(connection: redis.Redis) -> int:
    """Live USSD sessions (keys expire with the session; SCAN does not block Redis)."""
    return sum(1 for _ in connection.scan_iter(match=SESSION_KEY.format("*"), count=1000))


class StateCollector(Collector):
    """Figures read from the database and Redis when Prometheus asks."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        """Yield the gauges; a dependency that is down shows as ``smsgateway_up 0``."""
        up = GaugeMetricFamily("smsgateway_up", "Whether a dependency answered the scrape.",
                               labels=["dependency"])
        try:
            yield from self._database()
            up.add_metric(["database"], 1)
        except Exception:  # noqa: BLE001 - a scrape reports a down database, never a 500
            up.add_metric(["database"], 0)
        try:
            yield from self._redis()
            up.add_metric(["redis"], 1)
        except redis.RedisError:
            up.add_metric(["redis"], 0)
        yield up

    def _database(self) -> Iterator[Metric]:
        families = []
        with get_db(self.app).session() as session:
            for model, metric in ((OutboundMessage, "smsgateway_outbound_messages"),
                                  (InboundMessage, "smsgateway_inbound_messages")):
                family = GaugeMetricFamily(metric, "Stored messages by status.",
                                           labels=["status"])
                rows = session.execute(select(model.status, func.count()).group_by(model.status))
                for status, count in rows:
                    family.add_metric([str(status)], count)
                families.append(family)
        yield from families

    def _redis(self) -> Iterator[Metric]:
        connection = get_redis(self.app)
        states = queue_states(connection)
        sessions = count_ussd_sessions(connection)
        depth = GaugeMetricFamily("smsgateway_queue_depth", "Jobs waiting in a queue.",
                                  labels=["queue"])
        age = GaugeMetricFamily("smsgateway_queue_oldest_job_age_seconds",
                                "How long the job at the head of a queue has waited.",
                                labels=["queue"])
        jobs = GaugeMetricFamily("smsgateway_queue_jobs", "Jobs in a queue's registries.",
                                 labels=["queue", "registry"])
        for state in states:
            depth.add_metric([state.name], state.depth)
            age.add_metric([state.name], state.oldest_age)
            for registry in ("scheduled", "started", "deferred", "failed"):
                jobs.add_metric([state.name, registry], getattr(state, registry))
        yield from (depth, age, jobs)
        yield GaugeMetricFamily("smsgateway_ussd_sessions", "Live USSD sessions.", value=sessions)


def _allowed() -> bool:
    token = current_app.config["SETTINGS"].metrics.token
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return hmac.compare_digest(given.encode(), token.encode())
    # Without a token: a scraper on this host only. A request relayed by a proxy is not local.
    return request.remote_addr in LOOPBACK and "X-Forwarded-For" not in request.headers


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus' text format: per-process counters, then the scrape-time state."""
    if not _allowed():
        abort(404)  # not "403": do not advertise the endpoint
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        events = CollectorRegistry()
        MultiProcessCollector(events)
    else:
        events = REGISTRY
    state = CollectorRegistry(auto_describe=False)
    state.register(StateCollector(current_app._get_current_object()))  # type: ignore[attr-defined]
    body = generate_latest(events) + generate_latest(state)
    return Response(body, content_type=CONTENT_TYPE_LATEST)


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    parts = request.path.strip("/").split("/")
    if (started is not None and len(parts) >= 3 and parts[0] == "webhooks"
            and request.url_rule is not None):
        provider = parts[1] if parts[1] in PROVIDERS else "other"
        # /webhooks/android/<channel id>: one label for every phone, not one per channel.
        kind = "events" if provider == "android" else parts[2]
        WEBHOOK_SECONDS.labels(provider, kind).observe(time.perf_counter() - started)
    if response.status_code >= 500:
        SERVER_ERRORS.labels(request.endpoint or "none").inc()
    return response


def init_app(app: Flask) -> None:
    """Serve /metrics and time every webhook."""
    app.register_blueprint(bp)
    app.before_request(_start_timer)
    app.after_request(_observe)
