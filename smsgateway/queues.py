"""The RQ queues, in priority order, and enqueueing on them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from rq import Queue
from rq.job import Job

from .logs import TracedJob
from .redisconn import get_redis

#: Replies and confirmations to members: a broadcast never delays them.
REPLIES = "replies"
#: Urgent alerts (floods, storms).
URGENT = "urgent"
#: Routine broadcasts (meetings, prices).
BULK = "bulk"
#: A worker serves these in this order.
PRIORITY = (REPLIES, URGENT, BULK)


def get_queue(name: str, app: Flask | None = None) -> Queue:
    """The queue called ``name`` on the app's Redis."""
    if name not in PRIORITY:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis(app), job_class=TracedJob)


def enqueue(name: str, func: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Job:
    """Enqueue a job; call only once the rows the job reads are committed."""
    queue = get_queue(name)
    # One round trip (MULTI ... EXEC) instead of RQ's two: this runs once per inbound SMS.
    with queue.connection.pipeline() as pipe:
        job = queue.enqueue(func, *args, pipeline=pipe, **kwargs)
        pipe.execute()
    return job
