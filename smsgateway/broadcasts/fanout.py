"""The fan-out job: stream the audience, write outbound rows in bulk, enqueue send jobs.

It can be killed at any point and run again: rows are inserted with ON CONFLICT DO NOTHING on
(broadcast, phone), a cursor in Redis skips the chunks already done, and a send job claims a
row only while it is ``queued``, so a row enqueued twice is still sent once. Each row is
written with the id of the send job that will carry it (chosen before the INSERT), so rows
committed by a fan-out killed before it pushed their jobs are found and sent by the sweep
(:mod:`smsgateway.sweep`) without any extra write here.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app
from redis import Redis
from sqlalchemy import func, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from menus.encoding import measure

from ..config import Settings
from ..db import Database, get_db, utcnow
from ..jobs import Batch, enqueue_fan_out, new_job_id, push_batches
from ..models import Broadcast, BroadcastStatus, MessageKind, OutboundMessage, OutboundStatus
from ..queues import BULK, URGENT
from ..redisconn import get_redis
from ..services import routing
from .audience import Audience, Renderer, stream
from .progress import CURSOR_KEY, DONE, fan_out_done, finish_if_done

log = logging.getLogger(__name__)

LOCK_KEY = "smsgateway:broadcast:{id}:fanout-lock"
#: A killed fan-out's lock frees itself after this; a live one renews it every chunk.
LOCK_SECONDS = 30
#: A fan-out that wrote this many rows refreshes the table's statistics (PostgreSQL).
ANALYZE_AFTER = 10_000


def fan_out(broadcast_id: int) -> dict[str, int]:
    """Write and enqueue every message of a broadcast (an RQ job; safe to run again)."""
    # The worker runs jobs in the app's context: read what this job needs there, once.
    settings, redis, db = current_app.config["SETTINGS"], get_redis(), get_db()
    lock = redis.lock(LOCK_KEY.format(id=broadcast_id), timeout=LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        return {"skipped": 1}
    try:
        return _fan_out(settings, redis, db, broadcast_id, lock)
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - an expired lock needs no release
            pass


def _fan_out(settings: Settings, redis: Redis, db: Database, broadcast_id: int, lock: Any
             ) -> dict[str, int]:
    cursor_key = CURSOR_KEY.format(id=broadcast_id)
    with db.session() as session:
        broadcast = session.get(Broadcast, broadcast_id)
        if broadcast is None or broadcast.status in (
            BroadcastStatus.DONE, BroadcastStatus.CANCELLED, BroadcastStatus.EXPIRED
        ):
            return {"skipped": 1}
        now = utcnow()
        if broadcast.expires_at is not None and broadcast.expires_at <= now:
            expire(session, broadcast)
            return {"expired": 1}
        if broadcast.status != BroadcastStatus.SENDING:
            broadcast.status = BroadcastStatus.SENDING
            broadcast.started_at = now
        audience = Audience.from_dict(broadcast.audience)
        renderer = Renderer(session, broadcast.texts, audience.cooperatives, broadcast.fold)
        kind = MessageKind.ALERT if broadcast.urgent else MessageKind.BROADCAST
        queue = URGENT if broadcast.urgent else BULK
        # The cooperative's pool (else the shared channels, else the environment's provider):
        # each row names its channel, dealt in proportion to the channels' rates.
        pool = [(c.id, c.kind, routing.weight(c))
                for c in routing.pool(session, settings, broadcast.cooperative_id)]
    cursor = redis.get(cursor_key)
    if cursor == DONE.encode():
        return {"skipped": 1}
    after = int(cursor or 0)
    chunk_size = settings.broadcast.chunk_size
    batch_size = settings.broadcast.batch_size
    sizes: dict[str, tuple[str, int]] = {}
    written = enqueued = 0
    with db.session() as session:
        for chunk in stream(session, audience, chunk_size, after_id=after):
            rows = _rows(chunk, renderer, sizes, {
                "kind": kind, "status": OutboundStatus.QUEUED, "broadcast_id": broadcast_id})
            _deal(rows, pool)
            jobs = _assign_jobs(rows, batch_size)
            inserted = _insert_ignoring_duplicates(session, rows)
            session.commit()
            written += len(inserted)
            for message_id, job_id in inserted:
                jobs[job_id].ids.append(message_id)
            enqueued += push_batches(redis, queue, jobs.values())
            redis.set(cursor_key, chunk[-1].member_id, ex=7 * 86400)
            lock.extend(LOCK_SECONDS, replace_ttl=True)
        total = session.scalar(select(func.count()).select_from(OutboundMessage)
                               .where(OutboundMessage.broadcast_id == broadcast_id)) or 0
        session.execute(update(Broadcast).where(Broadcast.id == broadcast_id)
                        .values(recipients=total))
        redis.set(cursor_key, DONE, ex=7 * 86400)
        if written >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
            # Fresh statistics for the send jobs' and progress queries, before autovacuum.
            session.execute(sql_text("ANALYZE outbound_messages"))
        finish_if_done(session, redis, broadcast_id)
    log.info("broadcast %s: %s messages written, %s enqueued", broadcast_id, written, enqueued)
    return {"written": written, "enqueued": enqueued}


def _rows(chunk: list[Any], renderer: Renderer, sizes: dict[str, tuple[str, int]],
          common: dict[str, Any]) -> list[dict[str, Any]]:
    """The outbound rows of one chunk of recipients; ``sizes`` caches each text's measure."""
    rows = []
    for recipient in chunk:
        _, text = renderer.render(recipient)
        size = sizes.get(text)
        if size is None:
            measured = measure(text)
            size = (measured.encoding, measured.segments)
            if len(sizes) < 10_000:
                sizes[text] = size
        rows.append({"to_phone": recipient.phone, "member_id": recipient.member_id,
                     "text": text, "encoding": size[0], "segments": size[1], **common})
    return rows


def _deal(rows: list[dict[str, Any]], pool: list[tuple[int, str, float]]) -> None:
    """Give each row its channel (and the channel's kind as its provider), by rate."""
    slots = routing.spread([w for _, _, w in pool], len(rows))
    for row, slot in zip(rows, slots, strict=True):
        row["channel_id"], row["provider"], _ = pool[slot]


def _assign_jobs(rows: list[dict[str, Any]], batch_size: int) -> dict[str, Batch]:
    """Give each row the id of its send job: same text together, so a batching provider
    gets full requests. The batches' ids are filled in with the rows actually inserted."""
    rows.sort(key=lambda row: row["text"])
    jobs: dict[str, Batch] = {}
    for start in range(0, len(rows), batch_size):
        job = Batch(new_job_id(), [])
        jobs[job.job_id] = job
        for row in rows[start : start + batch_size]:
            row["job_id"] = job.job_id
    return jobs


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]
                                ) -> list[tuple[int, str]]:
    """Insert rows, skipping phones the broadcast already has; (id, job_id) of those inserted."""
    if not rows:
        return []
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        return _insert_unnest(session, rows, now)
    from sqlalchemy.dialects.sqlite import insert

    statement = (insert(OutboundMessage.__table__)
                 .on_conflict_do_nothing(index_elements=["broadcast_id", "to_phone"])
                 .returning(OutboundMessage.__table__.c.id, OutboundMessage.__table__.c.job_id))
    for row in rows:
        row["created_at"] = now
        row["attempts"] = 0
    return [(r[0], r[1]) for r in session.execute(statement, rows).all()]


# One statement with eight array parameters: a thousand-row VALUES list would cost more to
# build and parse, on both sides, than the insert itself.
_UNNEST_INSERT = sql_text("""
    INSERT INTO outbound_messages (to_phone, member_id, text, encoding, segments, kind,
                                   provider, status, broadcast_id, attempts, created_at, job_id,
                                   channel_id)
    SELECT u.phone, u.member_id, u.text, u.encoding, u.segments, :kind, u.provider, :status,
           :broadcast_id, 0, :now, u.job_id, u.channel_id
    FROM unnest(CAST(:phones AS varchar[]), CAST(:member_ids AS integer[]),
                CAST(:texts AS text[]), CAST(:encodings AS varchar[]),
                CAST(:segments AS integer[]), CAST(:job_ids AS varchar[]),
                CAST(:providers AS varchar[]), CAST(:channel_ids AS integer[]))
         AS u(phone, member_id, text, encoding, segments, job_id, provider, channel_id)
    ON CONFLICT (broadcast_id, to_phone) DO NOTHING
    RETURNING id, job_id
""")


def _insert_unnest(session: Session, rows: list[dict[str, Any]], now: Any
                   ) -> list[tuple[int, str]]:
    first = rows[0]
    params = {
        "kind": str(first["kind"]),
        "status": str(first["status"]), "broadcast_id": first["broadcast_id"], "now": now,
        "phones": [r["to_phone"] for r in rows], "member_ids": [r["member_id"] for r in rows],
        "texts": [r["text"] for r in rows], "encodings": [r["encoding"] for r in rows],
        "segments": [r["segments"] for r in rows], "job_ids": [r["job_id"] for r in rows],
        "providers": [r["provider"] for r in rows],
        "channel_ids": [r["channel_id"] for r in rows],
    }
    return [(r[0], r[1]) for r in session.execute(_UNNEST_INSERT, params).all()]


def resume_stalled(redis: Redis, db: Database) -> int:
    """Re-enqueue fan-outs that a killed worker left half done (and close finished ones).

    A running fan-out always holds its lock, so a broadcast being queued or sent whose fan-out
    did not finish, whose lock is free and whose job is not waiting in a queue, has lost its
    worker. The new job resumes from the cursor.
    """
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    from .planning import FANOUT_JOB_ID, STARTED_KEY

    with db.session() as session:
        candidates = session.execute(
            select(Broadcast.id, Broadcast.urgent)
            .where(Broadcast.status.in_((BroadcastStatus.QUEUED, BroadcastStatus.SENDING)))
        ).all()
    resumed = 0
    for broadcast_id, urgent in candidates:
        if fan_out_done(redis, broadcast_id):
            # Its last send job may have run while another broadcast's waited in the queue.
            with db.session() as session:
                finish_if_done(session, redis, broadcast_id)
            continue
        if redis.exists(LOCK_KEY.format(id=broadcast_id)):
            continue
        if not redis.exists(STARTED_KEY.format(id=broadcast_id)):
            continue  # never started: start() has not been called yet
        try:
            job = Job.fetch(FANOUT_JOB_ID.format(id=broadcast_id), connection=redis)
            status = job.get_status()
        except NoSuchJobError:
            status = None
        if status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
            continue
        if status == JobStatus.FINISHED and not redis.exists(
                CURSOR_KEY.format(id=broadcast_id)):
            continue
        enqueue_fan_out(redis, urgent, broadcast_id,
                        f"{FANOUT_JOB_ID.format(id=broadcast_id)}-resumed-{utcnow():%H%M%S%f}")
        log.warning("broadcast %s: fan-out resumed after its worker died", broadcast_id)
        resumed += 1
    return resumed


def expire(session: Session, broadcast: Broadcast) -> None:
    """A stale broadcast: nothing more of it is sent."""
    broadcast.status = BroadcastStatus.EXPIRED
    broadcast.finished_at = utcnow()
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.broadcast_id == broadcast.id,
               OutboundMessage.status == OutboundStatus.QUEUED)
        .values(status=OutboundStatus.EXPIRED, failure_reason="expired before sending",
                status_at=utcnow())
    )
    session.commit()
