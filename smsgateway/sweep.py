"""The sweep: every unfinished outbound row gets back to a queue, whatever befell Redis or a job.

The database is the truth and Redis only carries work, so a worker looks, at start and every
:data:`smsgateway.worker.MAINTENANCE_SECONDS`, for two kinds of rows no live job will send:

- ``sending`` rows whose lease (``lease_until``) has passed: their job's worker died (SIGKILL,
  lost machine) or their job died on a database error after claiming them. They go back to
  ``queued`` with a new job. The attempt stays counted: the provider may have had them.
  Rows handed over to an SMPP link are the link's (it hands them to itself again if its
  stream is lost: :meth:`smsgateway.smpp.record.Recorder.recover`).
- ``queued`` rows whose job is gone: never enqueued (Redis was down when the web process
  committed them), failed (a database error in the job), or lost with Redis. A batch row names
  its job (``job_id``); a reply waiting for its phone's turn is covered by that turn's job.
  One pipelined HMGET per distinct job (or turn), and the queues' lists when some say
  ``queued``, answer for all of them (:func:`smsgateway.jobs.alive`), so a big broadcast
  waiting legitimately behind the rate limiter (its jobs queued or scheduled) is left alone,
  while a job a worker took off its queue and never started (killed, or Redis lost the
  reply) is not.

Rows touched in the last :data:`GRACE_SECONDS` are skipped: their job is being pushed right
after their commit. A job enqueued twice is harmless (a row is claimed ``queued -> sending``
once), so the sweep errs on the side of enqueueing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from redis import Redis
from sqlalchemy import Row, and_, func, or_, select, update
from sqlalchemy.orm import Session

from .config import Settings
from .db import Database, utcnow
from .jobs import QUEUE_FOR_KIND, alive, enqueue_reply_turns, enqueue_send, reply_turns
from .models import MessageKind, OutboundMessage, OutboundStatus
from .smpp.handover import HANDED_OVER

log = logging.getLogger(__name__)

#: A row this recent may still be on its way to Redis.
GRACE_SECONDS = 10
#: Kinds that wait for their phone's turn in the replies queue when they have no job.
TURN_KINDS = (MessageKind.REPLY, MessageKind.CONFIRMATION)
#: One worker sweeps at a time; the lock lapses before the next maintenance round.
LOCK_KEY = "smsgateway:sweep-lock"


def sweep(settings: Settings, redis: Redis, db: Database, *, now: datetime | None = None,
          lock_seconds: int = 0) -> dict[str, int]:
    """Requeue expired leases and queued rows without a live job; return how many of each.

    ``lock_seconds``: skip (returning zeros) if another worker swept less than this ago.
    """
    if lock_seconds and not redis.set(LOCK_KEY, 1, nx=True, ex=lock_seconds):
        return {"reclaimed": 0, "requeued": 0}
    now = now or utcnow()
    reclaimed = reclaim_expired_leases(settings, redis, db, now)
    requeued = requeue_orphans(settings, redis, db, now)
    if reclaimed or requeued:
        log.warning("sweep: %d messages of dead workers and %d without a job requeued",
                    reclaimed, requeued)
    return {"reclaimed": reclaimed, "requeued": requeued}


def reclaim_expired_leases(settings: Settings, redis: Redis, db: Database, now: datetime
                           ) -> int:
    """``sending`` rows whose lease passed go back to ``queued``, with a new job each batch."""
    lease = timedelta(seconds=settings.broadcast.lease_seconds)
    touched = func.coalesce(OutboundMessage.status_at, OutboundMessage.created_at)
    expired = or_(OutboundMessage.lease_until < now,
                  # Claimed before leases existed (migration 0002): judged by the claim time.
                  and_(OutboundMessage.lease_until.is_(None), touched < now - lease))
    with db.session() as session:
        rows = session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.status == OutboundStatus.SENDING, expired,
                   # Handed over to an SMPP link: the link, not a send job, owns it now
                   # (smsgateway/smpp/handover.py), however long its queue.
                   or_(OutboundMessage.provider_status.is_(None),
                       OutboundMessage.provider_status != HANDED_OVER))
            .values(status=OutboundStatus.QUEUED, lease_until=None, job_id=None,
                    status_at=now)
            .returning(OutboundMessage.id, OutboundMessage.kind)
            .execution_options(synchronize_session=False)).all()
        session.commit()
        _enqueue(settings, redis, session, rows)
    return len(rows)


def requeue_orphans(settings: Settings, redis: Redis, db: Database, now: datetime) -> int:
    """``queued`` rows whose job (or phone's turn) no longer exists get one again."""
    quiet = func.coalesce(OutboundMessage.status_at, OutboundMessage.created_at) < (
        now - timedelta(seconds=GRACE_SECONDS))
    queued = and_(OutboundMessage.status == OutboundStatus.QUEUED, quiet)
    with db.session() as session:
        job_ids = list(session.scalars(
            select(OutboundMessage.job_id).where(queued, OutboundMessage.job_id.is_not(None))
            .distinct()))
        waiting_turn = and_(queued, OutboundMessage.job_id.is_(None))
        phones = list(session.scalars(
            select(OutboundMessage.to_phone)
            .where(waiting_turn, OutboundMessage.kind.in_(TURN_KINDS)).distinct()))
        dead = [job_id for job_id, ok in alive(redis, job_ids).items() if not ok]
        # A batch row without a job: its requeue was cut short between two commits.
        rows = list(session.execute(
            select(OutboundMessage.id, OutboundMessage.kind)
            .where(waiting_turn, OutboundMessage.kind.not_in(TURN_KINDS))).all())
        for start in range(0, len(dead), 500):
            rows += session.execute(
                select(OutboundMessage.id, OutboundMessage.kind)
                .where(queued, OutboundMessage.job_id.in_(dead[start : start + 500]))).all()
        _enqueue(settings, redis, session, rows)
    turns = reply_turns(redis, phones)
    live = alive(redis, [turn for turn in turns.values() if turn])
    lost = [phone for phone, turn in turns.items() if not turn or not live.get(turn)]
    enqueue_reply_turns(redis, lost, replace=True)
    return len(rows) + len(lost)


def _enqueue(settings: Settings, redis: Redis, session: Session,
             rows: Sequence[Row[tuple[int, MessageKind]]]) -> None:
    by_queue: dict[str, list[int]] = defaultdict(list)
    for message_id, kind in rows:
        by_queue[QUEUE_FOR_KIND[kind]].append(message_id)
    for queue_name, ids in by_queue.items():
        enqueue_send(session, redis, queue_name, ids, batch_size=settings.broadcast.batch_size)
