"""The link process of one SMPP channel: one bound connection, a window, a throughput limit.

One thread, one loop: submit while the window has room and the throughput allows, read what
the SMSC sends (``submit_sm_resp``, ``deliver_sm``, ``enquire_link``), keep the link alive
with ``enquire_link``, record answers in the database in small batches and only then
acknowledge their stream entries (:mod:`smsgateway.smpp.handover`). A dropped connection
puts every unanswered ``submit_sm`` back in line and reconnects with backoff (1 s doubling
to a minute). A window slot is held from ``submit_sm`` until its answer is recorded, so a
process killed at any point has at most the window's worth submitted and unrecorded: the
only messages it may send twice.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from smpplib import client as smpp_client
from smpplib import consts, exceptions, smpp

from handlers.smpp import THROTTLING, TRANSIENT, Part, SmppConfig, split, status_name

from ..config import Settings
from ..db import Database
from . import handover, record
from . import status as link_status
from .inbound import InboundHandler

log = logging.getLogger(__name__)

#: Longest wait between two reconnection attempts.
MAX_BACKOFF = 60.0
#: Answers recorded together (or after FLUSH_SECONDS, whichever comes first).
FLUSH_SECONDS = 0.05
#: Seconds between two looks at entries waiting for their send job's commit.
WAIT_RECHECK = 0.1
#: After throttling, the rate is halved; each quiet second it grows back by this factor.
RECOVERY = 1.1


@dataclass
class Entry:
    """A message read from the handover stream, on its way to the SMSC."""

    entry_id: str
    message_id: int
    to: str
    text: str
    sender: str
    parts: list[Part] = field(default_factory=list)
    ids: dict[int, str] = field(default_factory=dict)
    failed: str | None = None
    #: Parts the SMSC answered; each holds a window slot until the entry is recorded.
    answered: int = 0
    flushed: bool = False
    #: When it was first found waiting for its send job's commit.
    waiting_since: float | None = None


@dataclass
class Pending:
    """A PDU waiting for its answer: a part of an entry, or a USSD screen."""

    entry: Entry | None
    index: int
    pdu_fields: dict[str, Any]
    tries: int = 0


class Link:
    """Owns the SMPP connection of one channel."""

    def __init__(self, config: SmppConfig, settings: Settings, redis: Redis, db: Database,
                 consumer: str = "link") -> None:
        self.config, self.settings, self.redis, self.db = config, settings, redis, db
        self.consumer = consumer
        self.stream = handover.stream_key(config.name)
        self.recorder = record.Recorder(config, settings, redis, db)
        self.inbound = InboundHandler(config, settings, redis, db, self)
        self.clients: list[smpp_client.Client] = []
        self.inflight: dict[int, Pending] = {}
        self.again: deque[Pending] = deque()
        self.rate = config.throughput
        self.next_submit = 0.0
        self.throttled_until = 0.0
        self.last_activity = 0.0
        self.enquiry_sent: float | None = None
        self.held = 0  # window slots held by answered parts not yet recorded
        #: Where re-reading this consumer's pending entries has got to (None: done).
        self.cursor: str | bytes | None = "0"
        self.ready: deque[Entry] = deque()
        #: Messages read and not yet recorded, by id: a second copy of one is skipped.
        self.active: dict[int, Entry] = {}
        #: Entries whose send job has not yet committed the hand-over, and when last looked at.
        self.waiting: deque[Entry] = deque()
        self.waited_at = 0.0
        self.submitted = 0
        self.connects = 0
        self.reporter = link_status.Reporter(db, config.channel_id, settings=settings,
                                             redis=redis)
        self.enquiry_answered: str | None = None  # when the SMSC last answered enquire_link

    # ---- connection ------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Connect, serve, and reconnect with backoff until ``stop`` is set."""
        handover.ensure_group(self.redis, self.config.name)
        backoff = 1.0
        while not stop.is_set():
            try:
                self._connect()
                backoff = 1.0
                self._serve(stop)
            except (exceptions.ConnectionError, exceptions.PDUError, OSError) as error:
                log.warning("smpp %s: link down (%s); again in %.0f s", self.config.name,
                            _describe(error), backoff)
                self.reporter.unbound(time.monotonic(), _describe(error))
            except Exception:
                # The database or Redis failed under us: nothing is acknowledged that was
                # not recorded, so starting over (after the backoff) loses nobody.
                log.exception("smpp %s: link restarting", self.config.name)
            finally:
                self._close()
            if not stop.is_set():
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
        self.recorder.flush()

    def _connect(self) -> None:
        cfg = self.config
        binds = (["bind_transceiver"] if cfg.bind == "transceiver"
                 else ["bind_transmitter", "bind_receiver"])
        for bind in binds:
            client = smpp_client.Client(cfg.host, cfg.port, timeout=10,
                                        allow_unknown_opt_params=True)
            self.clients.append(client)
            client.connect()
            getattr(client, bind)(system_id=cfg.system_id, password=cfg.password,
                                  system_type=cfg.system_type)
        self.connects += 1
        self.last_activity = time.monotonic()
        self.enquiry_sent = None
        log.info("smpp %s: bound to %s:%s (%s)", cfg.name, cfg.host, cfg.port, "+".join(binds))
        self.reporter.bound(self.last_activity, self.state())

    def state(self) -> dict[str, object]:
        """What the channel record shows of this link (see :mod:`smsgateway.smpp.status`)."""
        return {"bound": bool(self.clients), "window_used": len(self.inflight) + self.held,
                "window": self.config.window, "throttled": self.rate < self.config.throughput,
                "rate": round(self.rate, 1), "enquire_link_answered": self.enquiry_answered}

    def _close(self) -> None:
        # Whatever was submitted and not answered goes out again on the next connection.
        for pending in self.inflight.values():
            self.again.append(pending)
        self.inflight.clear()
        for client in self.clients:
            try:
                client.disconnect()
            except Exception:  # noqa: BLE001 - the socket is already gone
                pass
        self.clients = []

    @property
    def transmitter(self) -> smpp_client.Client:
        """The client that sends ``submit_sm`` (the transceiver, or the transmitter)."""
        return self.clients[0]

    # ---- the loop --------------------------------------------------------------------------

    def _serve(self, stop: threading.Event) -> None:
        cfg = self.config
        while not stop.is_set():
            now = time.monotonic()
            self._fill(now)
            timeout = max(0.0, min(FLUSH_SECONDS, self.next_submit - now)) if (
                self._room()) else FLUSH_SECONDS
            socks = [c._socket for c in self.clients]
            readable, _, _ = select.select(socks, [], [], timeout)
            for client in self.clients:
                if client._socket in readable:
                    self._read(client)
            now = time.monotonic()
            if self.recorder.due(now) or not self._room():
                self._flush()
            self.recorder.tick(now, busy=bool(self.inflight or self.ready or self.again
                                              or self.waiting))
            self.inbound.tick(now)
            if self.rate < cfg.throughput and now > self.throttled_until + 1:
                self.rate = min(cfg.throughput, self.rate * RECOVERY)
                self.throttled_until = now
            self._keep_alive(now)
            self.reporter.tick(now, self.state())

    def _keep_alive(self, now: float) -> None:
        period = self.config.enquire_link_seconds
        if self.enquiry_sent is not None and now - self.enquiry_sent > period:
            raise exceptions.ConnectionError("no answer to enquire_link")
        if self.enquiry_sent is None and now - self.last_activity > period:
            for client in self.clients:
                client.send_pdu(smpp.make_pdu("enquire_link", client=client))
            self.enquiry_sent = now

    def _room(self) -> int:
        return self.config.window - len(self.inflight) - self.held

    def _fill(self, now: float) -> None:
        while self._room() > 0 and now >= self.next_submit:
            if self.again:
                pending = self.again.popleft()
                if pending.entry is not None and pending.entry.failed:
                    continue
            else:
                entry = self._next_entry()
                if entry is None:
                    return
                for index in range(1, len(entry.parts)):
                    self.again.appendleft(Pending(entry, len(entry.parts) - index,
                                                  self._fields(entry, len(entry.parts) - index)))
                pending = Pending(entry, 0, self._fields(entry, 0))
            self._submit(pending)
            self.next_submit = max(now, self.next_submit) + 1.0 / max(self.rate, 0.1)

    def _next_entry(self) -> Entry | None:
        """The next message to submit: this consumer's leftovers first, then new entries."""
        if not self.ready:
            self._recheck_waiting(time.monotonic())
        if not self.ready:
            self._read_entries(max(self._room(), 1))
        return self.ready.popleft() if self.ready else None

    def _read_entries(self, count: int) -> None:
        while True:
            # "0"...: entries this consumer read before it was killed (still pending).
            start = ">" if self.cursor is None else self.cursor
            answer = self.redis.xreadgroup(handover.GROUP, self.consumer,
                                           {self.stream: start}, count=count)
            raw = answer[0][1] if answer else []
            if raw or self.cursor is None:
                break
            self.cursor = None  # leftovers done: new entries from now on
        if self.cursor is not None and raw:
            self.cursor = raw[-1][0]
        entries = [Entry(_text(entry_id), int(v[b"id"]), _text(v[b"to"]), _text(v[b"text"]),
                         _text(v[b"sender"])) for entry_id, v in raw]
        self._sort(entries, time.monotonic())

    def _sort(self, entries: list[Entry], now: float) -> None:
        """Entries to submit go in line; those whose job has not committed yet wait a little;
        the rest (sent already, a second copy) are only acknowledged."""
        fresh: list[Entry] = []
        for entry in entries:
            holder = self.active.get(entry.message_id)
            if (holder is not None and holder is not entry) or entry.message_id in {
                    e.message_id for e in fresh}:
                self.recorder.skip(entry)  # another copy of it is on its way
            else:
                fresh.append(entry)
        ready, later = self.recorder.classify([e.message_id for e in fresh])
        for entry in fresh:
            if entry.message_id in later and now - (entry.waiting_since or now) < (
                    record.HANDOVER_WAIT):
                entry.waiting_since = entry.waiting_since or now
                self.active[entry.message_id] = entry
                self.waiting.append(entry)
                continue
            if entry.message_id not in ready:
                self.active.pop(entry.message_id, None)
                self.recorder.skip(entry)
                continue
            self.active[entry.message_id] = entry
            try:
                entry.parts = split(entry.text, self.config.long_messages)
            except ValueError as error:
                entry.failed = "too long"
                self.recorder.fail(entry, "too long", str(error))
                continue
            self.ready.append(entry)

    def _recheck_waiting(self, now: float) -> None:
        if self.waiting and now - self.waited_at >= WAIT_RECHECK:
            self.waited_at = now
            entries, self.waiting = list(self.waiting), deque()
            self._sort(entries, now)

    def _fields(self, entry: Entry, index: int) -> dict[str, Any]:
        cfg, part = self.config, entry.parts[index]
        fields = dict(
            source_addr_ton=cfg.source_ton, source_addr_npi=cfg.source_npi,
            source_addr=entry.sender or cfg.source_addr, dest_addr_ton=cfg.dest_ton,
            dest_addr_npi=cfg.dest_npi, destination_addr=entry.to.lstrip("+"),
            esm_class=part.esm_class, data_coding=part.data_coding,
            registered_delivery=cfg.registered_delivery, **part.tlvs)
        if part.short_message:
            fields["short_message"] = part.short_message
        return fields

    def _submit(self, pending: Pending) -> None:
        client = self.transmitter
        pdu = smpp.make_pdu("submit_sm", client=client, **pending.pdu_fields)
        self.inflight[pdu.sequence] = pending
        pending.tries += 1
        client.send_pdu(pdu)
        self.submitted += 1
        self.last_activity = time.monotonic()

    def send_ussd(self, fields: dict[str, Any]) -> None:
        """A USSD screen: submitted at once (a member is waiting), answered like the others."""
        self._submit(Pending(None, 0, fields))

    # ---- what the SMSC sends ---------------------------------------------------------------

    def _read(self, client: smpp_client.Client) -> None:
        # Everything already arrived on the socket, without waiting for more.
        while True:
            pdu = client.read_pdu()
            self.last_activity = time.monotonic()
            self._on_pdu(client, pdu)
            ready, _, _ = select.select([client._socket], [], [], 0)
            if not ready:
                return

    def _on_pdu(self, client: smpp_client.Client, pdu: Any) -> None:
        name = pdu.command
        if name == "submit_sm_resp":
            self._answered(pdu)
        elif name == "deliver_sm":
            if self.inbound.receipt_pending(pdu):
                self._flush()  # a receipt may name a message whose answer is not yet stored
            status = self.inbound.handle(pdu)
            resp = smpp.make_pdu("deliver_sm_resp", client=client, status=status)
            resp.sequence = pdu.sequence
            client.send_pdu(resp)
        elif name == "enquire_link":
            resp = smpp.make_pdu("enquire_link_resp", client=client)
            resp.sequence = pdu.sequence
            client.send_pdu(resp)
        elif name == "enquire_link_resp":
            self.enquiry_sent = None
            self.enquiry_answered = link_status.now_stamp()
        elif name in ("unbind", "outbind"):
            if name == "unbind":
                resp = smpp.make_pdu("unbind_resp", client=client)
                resp.sequence = pdu.sequence
                client.send_pdu(resp)
            raise exceptions.ConnectionError("the SMSC unbound")
        elif name == "generic_nack":
            pending = self.inflight.pop(pdu.sequence, None)
            if pending is not None:
                self._retry_later(pending)
        else:
            log.info("smpp %s: %s ignored", self.config.name, name)

    def _answered(self, pdu: Any) -> None:
        pending = self.inflight.pop(pdu.sequence, None)
        if pending is None:
            return  # an answer to a PDU of an earlier connection
        status = pdu.status
        if status in THROTTLING or status in TRANSIENT:
            self._retry_later(pending)
            return
        entry = pending.entry
        if entry is None:
            if status != consts.SMPP_ESME_ROK:
                log.warning("smpp %s: USSD screen refused: %s", self.config.name,
                            status_name(status))
            return
        entry.answered += 1
        if entry.flushed:
            return  # a late part of a message already recorded failed
        self.held += 1
        if status != consts.SMPP_ESME_ROK:
            if entry.failed is None:
                entry.failed = status_name(status)
                self.recorder.fail(entry, entry.failed, f"SMPP {entry.failed}")
            return
        message_id = pdu.message_id
        entry.ids[pending.index] = (message_id.decode() if isinstance(message_id, bytes)
                                    else str(message_id or ""))
        if entry.failed is None and len(entry.ids) == len(entry.parts):
            self.recorder.sent(entry)

    def _retry_later(self, pending: Pending) -> None:
        # The SMSC asks us to slow down: half the rate, a pause, and the same PDU again.
        self.rate = max(self.rate / 2, 0.5)
        now = time.monotonic()
        self.throttled_until = now
        self.next_submit = max(self.next_submit, now + min(2.0 ** pending.tries / 10, 5.0))
        self.again.appendleft(pending)

    def _flush(self) -> None:
        self.held = max(self.held - self.recorder.flush(), 0)
        for message_id in [i for i, e in self.active.items() if e.flushed]:
            del self.active[message_id]
        if self.inbound.early:
            self.inbound.retry_early(time.monotonic())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _describe(error: BaseException) -> str:
    if isinstance(error, exceptions.PDUError) and len(error.args) > 1:
        return f"{status_name(int(error.args[1]))}"
    if isinstance(error, socket.timeout):
        return "timeout"
    return type(error).__name__ + (f": {error}" if str(error) else "")
