"""Every RQ job of the gateway: its name, queue and timeout, and the one way to enqueue sends.

The database is the truth; Redis only carries work. Each queued outbound row says which job
is meant to send it, so :mod:`smsgateway.sweep` can find rows whose job is gone (never enqueued
because Redis was down, failed on a database error, lost with Redis) and enqueue them again:

- a batch job (``send_messages(ids)``: broadcasts, retries, rows handed back) has its RQ job id
  written on each of its rows (``job_id``) *before* it is pushed, in the same commit as the rows
  or in one UPDATE per batch;
- a reply or confirmation waits for its phone's *turn* (``job_id`` NULL): at most one
  ``send_replies(phone)`` job per phone waits in the ``replies`` queue (a Redis key per phone,
  set with NX, names it), and each turn sends at most :data:`REPLY_TURN` of that phone's
  replies before queueing the next turn at the back. One phone flooding the gateway therefore
  never holds more than one place in the queue, and another member's reply waits behind at
  most one turn per busy phone. The SET NX and the enqueue are one script, one round trip.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis import Redis
from rq import Queue
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job, JobStatus
from rq.utils import now as rq_now
from sqlalchemy import func, update
from sqlalchemy.orm import Session

from .db import utcnow
from .logs import TracedJob
from .models import MessageKind, OutboundMessage, OutboundStatus
from .queues import BULK, REPLIES, URGENT
from .redisconn import run_script

SEND = "smsgateway.sending.send_messages"
SEND_REPLIES = "smsgateway.sending.send_replies"
FAN_OUT = "smsgateway.broadcasts.fanout.fan_out"
SETTLE = "smsgateway.reconcile.settle"
#: A send job makes a few provider requests and database commits; a stuck one is killed.
SEND_TIMEOUT = 180
FAN_OUT_TIMEOUT = 3600
#: A finished send job's result is kept this long (nobody reads it); a failed one a week.
RESULT_TTL = 60
FAILURE_TTL = 7 * 86400
#: Replies of one phone sent per turn before the other phones' turns come round.
REPLY_TURN = 5
#: Names the waiting ``send_replies`` job of a phone (see the module docstring).
TURN_KEY = "smsgateway:reply-turn:{phone}"
#: A turn key outlives any real wait; the sweep replaces one whose job is gone.
TURN_TTL = 86400
#: RQ job statuses of a job that will still run.
ALIVE = frozenset({b"queued", b"scheduled", b"deferred", b"started"})
#: Seconds after which a started job whose rows are still queued is taken for dead.
STARTED_GRACE = 60

QUEUE_FOR_KIND = {
    MessageKind.REPLY: REPLIES,
    MessageKind.CONFIRMATION: REPLIES,
    MessageKind.ALERT: URGENT,
    MessageKind.BROADCAST: BULK,
    MessageKind.SECRET: URGENT,
}


def new_job_id() -> str:
    """A fresh RQ job id, chosen before the rows that name it are written."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Batch:
    """One send job: its id (written on its rows) and the rows it sends."""

    job_id: str
    ids: list[int]


def batches(ids: Sequence[int], size: int) -> list[Batch]:
    """Split ``ids`` into send jobs of ``size`` ids each, each with a fresh job id."""
    return [Batch(new_job_id(), list(ids[i : i + size])) for i in range(0, len(ids), size)]


def enqueue_send(session: Session, redis: Redis, queue_name: str, ids: Sequence[int], *,
                 batch_size: int, delay: float = 0, at_front: bool = False,
                 claimed: bool = False) -> int:
    """Send stored rows again: name their new job on them, commit, push it; return jobs pushed.

    The one way a row already in the database gets a send job (retries, rows handed back to
    the queue, the sweep). ``claimed``: the rows are ``sending`` and this job hands them back
    (``sending -> queued``, the attempt not counted). Rows not in the expected status (sent,
    or claimed meanwhile by another job) are left alone and their job finds nothing to do.
    """
    if not ids:
        return 0
    jobs = batches(sorted(ids), batch_size)
    expected = OutboundStatus.SENDING if claimed else OutboundStatus.QUEUED
    values: dict[str, object] = {"status_at": utcnow()}
    if claimed:
        values.update(status=OutboundStatus.QUEUED, attempts=OutboundMessage.attempts - 1,
                      lease_until=None)
    for job in jobs:
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id.in_(job.ids),
                   func.lower(OutboundMessage.status) == expected.value)
            .values(job_id=job.job_id, **values)
            .execution_options(synchronize_session=False))
    session.commit()
    return push_batches(redis, queue_name, jobs, delay=delay, at_front=at_front)


def push_batches(redis: Redis, queue_name: str, jobs: Iterable[Batch], *, delay: float = 0,
                 at_front: bool = False) -> int:
    """Push send jobs whose ids are already on their rows, in one round trip; return how many.

    Call only after the rows (and their ``job_id``) are committed.
    """
    jobs = [job for job in jobs if job.ids]
    if not jobs:
        return 0
    queue = Queue(queue_name, connection=redis, job_class=TracedJob)
    with redis.pipeline() as pipe:
        if delay > 0:
            for job in jobs:
                queue.enqueue_in(timedelta(seconds=delay), SEND, job.ids, job_id=job.job_id,
                                 job_timeout=SEND_TIMEOUT, result_ttl=RESULT_TTL,
                                 failure_ttl=FAILURE_TTL, pipeline=pipe)
        else:
            queue.enqueue_many(
                [Queue.prepare_data(SEND, args=(job.ids,), timeout=SEND_TIMEOUT,
                                    job_id=job.job_id, result_ttl=RESULT_TTL,
                                    failure_ttl=FAILURE_TTL, at_front=at_front)
                 for job in jobs], pipeline=pipe)
        pipe.execute()
    return len(jobs)


#: Phones given their turns by one script (the sweep may pass thousands: chunks keep each
#: script short, so Redis does not stall other clients while it runs).
TURNS_PER_SCRIPT = 200

# Take each phone's turn and enqueue its job in one round trip, the enqueue only where the
# turn was won. The job hash is RQ's own (``Job.to_dict``, what ``Queue.enqueue_many``
# writes); the script only writes it, as RQ's enqueue pipeline does: SADD the queue to
# ``rq:queues``, HSET the hash, RPUSH the id. A Lua function, so that a script of another
# module may take a turn after a check of its own in the same round trip (sms/limits.py).
# K: rq:queues, the queue's list, then per phone its turn key and its job's hash.
# A: turn TTL, '1' for NX (else replace), then per phone: job id, n, n field/value items.
TURNS_LUA = """
local function take_turns(K, A)
  local won, a = 0, 3
  for i = 3, #K, 2 do
    local id, n = A[a], tonumber(A[a + 1])
    local set
    if A[2] == '1' then
      set = redis.call('SET', K[i], id, 'NX', 'EX', A[1])
    else
      set = redis.call('SET', K[i], id, 'EX', A[1])
    end
    if set then
      redis.call('SADD', K[1], K[2])
      redis.call('HSET', K[i + 1], unpack(A, a + 2, a + 1 + n))
      redis.call('RPUSH', K[2], id)
      won = won + 1
    end
    a = a + 2 + n
  end
  return won
end
"""
_TURNS = TURNS_LUA + "return take_turns(KEYS, ARGV)"


def turn_call(redis: Redis, phones: Sequence[str], *, replace: bool = False
              ) -> tuple[list[str], list[object]]:
    """The keys and arguments of ``take_turns`` (:data:`TURNS_LUA`) for ``phones``."""
    keys: list[str] = [Queue.redis_queues_keys, Queue.redis_queue_namespace_prefix + REPLIES]
    args: list[object] = [TURN_TTL, "0" if replace else "1"]
    for phone in phones:
        job_id, items = _turn_job(redis, phone)
        keys += (TURN_KEY.format(phone=phone), Job.key_for(job_id))
        args += (job_id, len(items), *items)
    return keys, args


def _turn_job(redis: Redis, phone: str) -> tuple[str, list[object]]:
    """The ``send_replies(phone)`` job as RQ would enqueue it: its id and its hash's items."""
    job = TracedJob.create(SEND_REPLIES, args=(phone,), connection=redis, id=new_job_id(),
                           timeout=SEND_TIMEOUT, result_ttl=RESULT_TTL,
                           failure_ttl=FAILURE_TTL, origin=REPLIES, status=JobStatus.QUEUED)
    job.enqueued_at = rq_now()  # as Queue._prepare_for_queue sets it
    items: list[object] = []
    for field_name, value in job.to_dict().items():
        items += (field_name, value)
    return job.id, items


def enqueue_reply_turns(redis: Redis, phones: Iterable[str], *, replace: bool = False) -> int:
    """Give each phone a turn in ``replies`` unless one already waits; return turns enqueued.

    One round trip per :data:`TURNS_PER_SCRIPT` phones (the turn's SET NX and, where it is
    won, RQ's enqueue, in one script). ``replace`` (the sweep) overwrites a turn key whose
    job is gone.
    """
    phones = list(dict.fromkeys(phones))
    won = 0
    for start in range(0, len(phones), TURNS_PER_SCRIPT):
        keys, args = turn_call(redis, phones[start : start + TURNS_PER_SCRIPT], replace=replace)
        won += int(run_script(redis, _TURNS, keys, args))  # type: ignore[call-overload]
    return won


def start_reply_turn(redis: Redis, phone: str) -> None:
    """The turn job of ``phone`` starts: a reply stored from now on gets a new turn."""
    redis.delete(TURN_KEY.format(phone=phone))


def alive(redis: Redis, job_ids: Sequence[str]) -> dict[str, bool]:
    """Whether each job will still run (queued, scheduled, deferred or started): two round trips.

    A job ``started`` more than :data:`STARTED_GRACE` seconds ago is taken for dead: a live
    send job claims its rows within milliseconds of starting, so rows still queued under it
    belong to a worker killed in between, which RQ would report as started for minutes.

    A job ``queued`` is alive only while its id is still in its queue (or RQ's intermediate
    list beside it). A worker takes the id off the queue (BLPOP) before it marks the job
    started; if it dies in between, or Redis goes away and the reply is lost, the job's hash
    says ``queued`` for ever and nothing will run it. The lists and the statuses are read in one
    MULTI, so a job counts as lost only if, at one instant, it was queued in no list: the
    instant between a live worker's pop and its start, at worst, which costs a second job
    for the same rows (claimed once: harmless).
    """
    if not job_ids:
        return {}
    with redis.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hmget(Job.key_for(job_id), "status", "started_at", "origin")
        answers = pipe.execute()
    queued = {job_id: origin for job_id, (status, _, origin) in zip(job_ids, answers, strict=True)
              if status == b"queued" and origin}
    if queued:
        answers = _queued_in_lists(redis, job_ids, answers, queued)
    cutoff = utcnow() - timedelta(seconds=STARTED_GRACE)
    return {job_id: status in ALIVE and not (status == b"started" and _before(started, cutoff))
            for job_id, (status, started, _origin) in zip(job_ids, answers, strict=True)}


def _queued_in_lists(redis: Redis, job_ids: Sequence[str], answers: list[list[bytes | None]],
                     queued: dict[str, bytes]) -> list[list[bytes | None]]:
    """``answers`` read again with the queues' lists, in one MULTI; a lost job reads as None."""
    keys = sorted({key for origin in set(queued.values())
                   for key in _list_keys(origin.decode())})
    ids = list(queued)
    with redis.pipeline(transaction=True) as pipe:
        for key in keys:
            pipe.lrange(key, 0, -1)
        for job_id in ids:
            pipe.hmget(Job.key_for(job_id), "status", "started_at", "origin")
        replies = pipe.execute()
    waiting = {job_id for listed in replies[: len(keys)] for job_id in listed}
    again = dict(zip(ids, replies[len(keys):], strict=True))
    result = []
    for job_id, answer in zip(job_ids, answers, strict=True):
        answer = again.get(job_id, answer)
        if answer[0] == b"queued" and job_id.encode() not in waiting:
            answer = [None, *answer[1:]]
        result.append(answer)
    return result


def _list_keys(queue_name: str) -> tuple[str, str]:
    key = Queue.redis_queue_namespace_prefix + queue_name
    return key, IntermediateQueue.get_intermediate_queue_key(key)


def _before(stamp: bytes | None, cutoff: datetime) -> bool:
    # RQ writes started_at as an ISO time in UTC ("2026-12-01T22:50:01.123456Z").
    if not stamp:
        return False
    try:
        started = datetime.fromisoformat(stamp.decode().rstrip("Z"))
    except ValueError:
        return False
    return started.replace(tzinfo=None) < cutoff.replace(tzinfo=None)


def reply_turns(redis: Redis, phones: Sequence[str]) -> dict[str, str | None]:
    """The job id of each phone's waiting turn, or None: one round trip."""
    if not phones:
        return {}
    values = redis.mget([TURN_KEY.format(phone=phone) for phone in phones])
    return {phone: v.decode() if v else None for phone, v in zip(phones, values, strict=True)}


def enqueue_fan_out(redis: Redis, urgent: bool, broadcast_id: int, job_id: str,
                    at: object | None = None) -> None:
    """Enqueue (or schedule ``at``) the fan-out job of a broadcast."""
    queue = Queue(URGENT if urgent else BULK, connection=redis, job_class=TracedJob)
    if at is not None:
        queue.enqueue_at(at, FAN_OUT, broadcast_id, job_id=job_id, job_timeout=FAN_OUT_TIMEOUT)
    else:
        queue.enqueue(FAN_OUT, broadcast_id, job_id=job_id, job_timeout=FAN_OUT_TIMEOUT)


def enqueue_settle(redis: Redis, queue_name: str, ids: Sequence[int], delay: float) -> None:
    """Schedule the settle job of messages whose fate is unknown, ``delay`` seconds from now."""
    queue = Queue(queue_name, connection=redis, job_class=TracedJob)
    queue.enqueue_in(timedelta(seconds=delay), SETTLE, list(ids), job_timeout=SEND_TIMEOUT)
