"""The RQ queues, in priority order (jobs and enqueueing: :mod:`smsgateway.jobs`)."""

from __future__ import annotations

from flask import Flask
from rq import Queue

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
    return Queue(name, connection=get_redis(app))
