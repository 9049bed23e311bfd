"""What the link records: each message's SMSC id or failure, then the stream acknowledgement.

Answers are written in small batches (one transaction), and only after the commit are their
stream entries acknowledged: a process killed in between submits them again on restart
(duplicates bounded by the window), never loses one. While alive, the link renews the
database lease of its channel's ``sending`` rows so the sweep leaves them to it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from redis import Redis
from sqlalchemy import bindparam, or_, select, update

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

    def still_to_send(self, message_ids: Sequence[int]) -> set[int]:
        """Which of these rows are still waiting to be submitted (not sent, failed, gone)."""
        if not message_ids:
            return set()
        with self.db.session() as session:
            return set(session.scalars(
                select(OutboundMessage.id).where(
                    OutboundMessage.id.in_(message_ids), OutboundMessage.status.in_(OPEN),
                    OutboundMessage.provider_message_id.is_(None))))

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

    def tick(self, now: float) -> None:
        """Renew the database lease of this channel's handed-over rows, now and then."""
        lease = self.settings.broadcast.lease_seconds
        if now - self.renewed_at < lease / 3:
            return
        self.renewed_at = now
        with self.db.session() as session:
            session.execute(
                update(OutboundMessage)
                .where(OutboundMessage.provider == self.config.provider,
                       OutboundMessage.status == OutboundStatus.SENDING)
                .values(lease_until=utcnow() + timedelta(seconds=lease))
                .execution_options(synchronize_session=False))

    def primary_id(self, message_id: str) -> str:
        """The id stored on the row for a receipt's id (a later part's id maps to the first)."""
        value = self.redis.hget(handover.PARTS.format(name=self.config.name), message_id)
        return value.decode() if value else message_id
