"""What the link records: each message's SMSC id or failure, then the stream acknowledgement.

Answers are written in small batches (one transaction), and only after the commit are their
stream entries acknowledged: a process killed in between submits them again on restart
(duplicates bounded by the window), never loses one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from redis import Redis
from sqlalchemy import bindparam, or_, select, update

from handlers.base import SmsOut
from handlers.smpp import SmppConfig

from ..config import Settings
from ..db import Database, utcnow
from ..models import OutboundMessage, OutboundStatus
from . import handover

if TYPE_CHECKING:
    from .link import Entry

log = logging.getLogger(__name__)

#: Answers kept before a flush is due anyway.
BATCH = 100
#: The part-id map outlives any receipt (SMSCs report within days).
PARTS_TTL = 7 * 86400
#: Seconds between two looks for rows missing from an empty stream; rows younger are left.
RECOVER_SECONDS = 60.0
RECOVER_BATCH = 5000
#: Seconds an entry waits for its job to record the hand-over; then the row is the sweep's.
HANDOVER_WAIT = 300.0
#: Rows the link may still send: a row sent (or failed) meanwhile is skipped.
OPEN = (OutboundStatus.SENDING, OutboundStatus.QUEUED)


def _open(table: Any) -> Any:
    # Not IN (...): an expanding parameter cannot go in an executemany.
    return or_(*(table.c.status == status for status in OPEN))


class Recorder:
    """Collects the link's answers and writes them."""

    def __init__(self, config: SmppConfig, settings: Settings, redis: Redis, db: Database
                 ) -> None:
        self.config, self.settings, self.redis, self.db = config, settings, redis, db
        self.sent_entries: list[Entry] = []
        self.failed: list[tuple[Entry, str, str]] = []
        self.skipped: list[Entry] = []
        self.first_at: float | None = None
        self.renewed_at = 0.0
        self.recorded = 0

    def classify(self, message_ids: Sequence[int]) -> tuple[set[int], set[int]]:
        """(rows to submit now, rows whose send job has not yet recorded the hand-over).

        A row is submitted only once its job's commit says ``handed over``: before it, the
        job's own UPDATE could land after ours and take a sent row back to ``sending``. Any
        other row (sent, failed, gone) is in neither set: its entry is only acknowledged.
        """
        if not message_ids:
            return set(), set()
        with self.db.session() as session:
            found = session.execute(
                select(OutboundMessage.id, OutboundMessage.status,
                       OutboundMessage.provider_status)
                .where(OutboundMessage.id.in_(message_ids), OutboundMessage.status.in_(OPEN),
                       OutboundMessage.provider_message_id.is_(None))).all()
        now = {i for i, status, word in found
               if status == OutboundStatus.SENDING and word == handover.HANDED_OVER}
        return now, {i for i, _, _ in found} - now

    def _note(self) -> None:
        if self.first_at is None:
            self.first_at = time.monotonic()

    def sent(self, entry: Entry) -> None:
        """Every part of ``entry`` was accepted."""
        self.sent_entries.append(entry)
        self._note()

    def fail(self, entry: Entry, code: str, reason: str) -> None:
        """The SMSC refused ``entry`` for good."""
        self.failed.append((entry, code, reason))
        self._note()

    def skip(self, entry: Entry) -> None:
        """``entry`` needs no submit (its row is already sent): only acknowledge it."""
        self.skipped.append(entry)
        self._note()

    def due(self, now: float) -> bool:
        """Whether answers are waiting long or many enough to be written now."""
        waiting = len(self.sent_entries) + len(self.failed) + len(self.skipped)
        return waiting > 0 and (waiting >= BATCH or now - (self.first_at or now) >= 0.05)

    def flush(self) -> int:
        """Write the answers, then acknowledge their entries; return window slots freed."""
        sent, failed, skipped = self.sent_entries, self.failed, self.skipped
        if not (sent or failed or skipped):
            return 0
        now = utcnow()
        table = OutboundMessage.__table__
        with self.db.session() as session:
            if sent:
                session.connection().execute(
                    update(table)
                    .where(table.c.id == bindparam("b_id"), _open(table))
                    .values(status=OutboundStatus.SENT, provider_message_id=bindparam("b_pid"),
                            provider_status="submitted", status_at=now, sent_at=now,
                            lease_until=None, failure_reason=None, error_code=None),
                    [{"b_id": e.message_id, "b_pid": e.ids[0]} for e in sent])
            if failed:
                session.connection().execute(
                    update(table)
                    .where(table.c.id == bindparam("b_id"), _open(table))
                    .values(status=OutboundStatus.FAILED, status_at=now, lease_until=None,
                            failure_reason=bindparam("b_reason"),
                            error_code=bindparam("b_code"), cost=None),
                    [{"b_id": e.message_id, "b_reason": reason[:200], "b_code": code[:30]}
                     for e, code, reason in failed])
        aliases = {part_id: e.ids[0] for e in sent for i, part_id in e.ids.items() if i}
        entries = [*sent, *(e for e, _, _ in failed), *skipped]
        with self.redis.pipeline(transaction=False) as pipe:
            if aliases:
                key = handover.PARTS.format(name=self.config.name)
                pipe.hset(key, mapping=aliases)
                pipe.expire(key, PARTS_TTL)
            ids = [e.entry_id for e in entries]
            pipe.xack(handover.stream_key(self.config.name), handover.GROUP, *ids)
            pipe.xdel(handover.stream_key(self.config.name), *ids)
            pipe.execute()
        for entry in entries:
            entry.flushed = True
        self.sent_entries, self.failed, self.skipped, self.first_at = [], [], [], None
        self.recorded += len(sent)
        for entry, code, _ in failed:
            log.info("smpp %s: message %s failed: %s", self.config.name, entry.message_id, code)
        return sum(e.answered for e in entries)

    def tick(self, now: float, busy: bool) -> None:
        """Now and then, if the stream is empty and the link idle: :meth:`recover`."""
        if now - self.renewed_at < RECOVER_SECONDS:
            return
        self.renewed_at = now
        if not busy:
            self.recover()

    def recover(self) -> int:
        """Hand over again this channel's open rows when the stream holds nothing (Redis lost
        it, or a row was committed handed-over and its entry never written); return how many.
        """
        key = handover.stream_key(self.config.name)
        if self.redis.xlen(key):
            return 0
        with self.db.session() as session:
            open_rows = session.execute(
                select(OutboundMessage.id, OutboundMessage.to_phone, OutboundMessage.text,
                       OutboundMessage.sender)
                .where(OutboundMessage.channel_id == self.config.channel_id,
                       OutboundMessage.status == OutboundStatus.SENDING,
                       OutboundMessage.provider_message_id.is_(None),
                       OutboundMessage.status_at < utcnow() - timedelta(seconds=RECOVER_SECONDS))
                .order_by(OutboundMessage.id).limit(RECOVER_BATCH)).all()
        if open_rows:
            log.warning("smpp %s: %d handed-over messages missing from the stream, handed over "
                        "again", self.config.name, len(open_rows))
            handover.HandoverProvider(self.config, self.redis).send(
                [SmsOut(row.id, row.to_phone, row.text, row.sender) for row in open_rows])
        return len(open_rows)

    def primary_id(self, message_id: str) -> str:
        """The id stored on the row for a receipt's id (a later part's id maps to the first)."""
        value = self.redis.hget(handover.PARTS.format(name=self.config.name), message_id)
        return value.decode() if value else message_id
