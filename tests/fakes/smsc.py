"""A fake SMSC on loopback speaking SMPP 3.4 over TCP (PDUs through smpplib's own codec).

It accepts binds (and refuses a wrong password), answers ``submit_sm`` with message ids
(hex, and receipts that write them in decimal), sends delivery receipts and inbound
``deliver_sm`` (long ones in UDH parts), throttles on demand (``ESME_RTHROTTLED``), fails
chosen numbers with a status, drops every connection on demand, and plays a USSD network
(``deliver_sm`` with ``ussd_service_op``).
"""

from __future__ import annotations

import itertools
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smpplib import consts, smpp

from handlers import smpp as codec


@dataclass
class Submitted:
    """A submit_sm the SMSC accepted (or refused)."""

    message_id: str
    destination: str
    source: str
    text: str
    data_coding: int
    esm_class: int
    concat: codec.Concat | None
    ussd_op: int | None
    session: int | None
    status: int
    tlvs: dict[str, Any] = field(default_factory=dict)


class Connection:
    """One bound ESME connection."""

    def __init__(self, smsc: FakeSmsc, sock: socket.socket) -> None:
        self.smsc, self.sock = smsc, sock
        self.seq = codec.Sequencer(1000)
        self.bound: str | None = None
        self.lock = threading.Lock()

    def send(self, name: str, sequence: int | None = None, **fields: Any) -> None:
        pdu = smpp.make_pdu(name, client=self.seq, **fields)
        if sequence is not None:
            pdu.sequence = sequence
        with self.lock:
            self.sock.sendall(pdu.generate())

    def read(self) -> Any | None:
        head = self._exact(4)
        if head is None:
            return None
        (length,) = struct.unpack(">L", head)
        body = self._exact(length - 4)
        return None if body is None else codec.parse(head + body)

    def _exact(self, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            try:
                chunk = self.sock.recv(size - len(data))
            except OSError:
                return None
            if not chunk:
                return None
            data += chunk
        return data

    def serve(self) -> None:
        try:
            while (pdu := self.read()) is not None:
                self.smsc.handle(self, pdu)
        finally:
            self.smsc.forget(self)
            self.sock.close()


class FakeSmsc:
    """The SMSC; ``start()`` binds 127.0.0.1 on a free port."""

    def __init__(self, system_id: str = "coop", password: str = "secret") -> None:
        self.system_id, self.password = system_id, password
        self.submitted: list[Submitted] = []
        self.binds: list[tuple[str, str, int]] = []
        self.connections: list[Connection] = []
        self.ids = itertools.count(0x1000)
        self.throttle_next = 0
        self.fail_numbers: dict[str, int] = {}
        self.receipts = True
        self.receipt_stat = "DELIVRD"
        #: The stat of the receipt of a given part of a long text (its concatenation seq).
        self.part_stats: dict[int, str] = {}
        #: Parts of a long text (seq) whose receipt never comes.
        self.unreceipted_parts: set[int] = set()
        self.receipts_sent = 0
        self.deliver_answers: list[int] = []
        self.enquire_links = 0
        #: False: enquire_link goes unanswered, as from an SMSC that hangs.
        self.handle_enquire_link = True
        #: Seconds before each submit_sm_resp (an SMSC across a network), answers in parallel.
        self.latency = 0.0
        #: USSD screens the ESME sent, waiting for the handset (see :meth:`ussd_screen`).
        self.screens: list[Submitted] = []
        self._screen_ready = threading.Condition()
        #: Called with each accepted submit_sm (the USSD phone listens here).
        self.on_submit: list[Callable[[Submitted], None]] = []
        self._lock = threading.Lock()
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]

    def start(self) -> FakeSmsc:
        self._server.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.close()
        self.drop()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._server.accept()
            except OSError:
                return
            conn = Connection(self, sock)
            with self._lock:
                self.connections.append(conn)
            threading.Thread(target=conn.serve, daemon=True).start()

    def forget(self, conn: Connection) -> None:
        with self._lock:
            if conn in self.connections:
                self.connections.remove(conn)

    def drop(self) -> None:
        """Close every connection at once, as a network cut does."""
        with self._lock:
            conns, self.connections = self.connections, []
        for conn in conns:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.sock.close()

    # ---- the SMSC's side of each command ----------------------------------------------------

    def handle(self, conn: Connection, pdu: Any) -> None:
        name = pdu.command
        if name.startswith("bind_"):
            system_id = pdu.system_id.decode() if isinstance(pdu.system_id, bytes) else (
                str(pdu.system_id))
            password = pdu.password.decode() if isinstance(pdu.password, bytes) else (
                str(pdu.password))
            ok = system_id == self.system_id and password == self.password
            status = consts.SMPP_ESME_ROK if ok else consts.SMPP_ESME_RBINDFAIL
            self.binds.append((name, system_id, status))
            conn.bound = name if ok else None
            conn.send(f"{name}_resp", pdu.sequence, status=status, system_id="fakesmsc")
        elif name == "enquire_link":
            self.enquire_links += 1
            if self.handle_enquire_link:
                conn.send("enquire_link_resp", pdu.sequence)
        elif name == "unbind":
            conn.send("unbind_resp", pdu.sequence)
        elif name == "submit_sm":
            self._submit(conn, pdu)
        elif name == "deliver_sm_resp":
            self.deliver_answers.append(pdu.status)

    def _submit(self, conn: Connection, pdu: Any) -> None:
        with self._lock:
            throttled = self.throttle_next > 0
            if throttled:
                self.throttle_next -= 1
        destination = codec.address(pdu.destination_addr)
        if throttled:
            status = consts.SMPP_ESME_RTHROTTLED
        else:
            status = self.fail_numbers.get(destination, consts.SMPP_ESME_ROK)
        message_id = format(next(self.ids), "x") if status == consts.SMPP_ESME_ROK else ""
        data = pdu.message_payload or pdu.short_message or b""
        concat = None
        if (pdu.esm_class or 0) & codec.ESM_UDHI:
            concat, data = codec.read_udh(data)
        elif pdu.sar_total_segments:
            concat = codec.Concat(pdu.sar_msg_ref_num, pdu.sar_total_segments,
                                  pdu.sar_segment_seqnum)
        record = Submitted(message_id, destination, codec.address(pdu.source_addr),
                           codec.decode(data, pdu.data_coding or 0), pdu.data_coding or 0,
                           pdu.esm_class or 0, concat, pdu.ussd_service_op,
                           pdu.its_session_info if pdu.its_session_info is not None
                           else pdu.user_message_reference, status)
        if status == consts.SMPP_ESME_ROK and record.ussd_op is not None:
            with self._screen_ready:
                self.screens.append(record)
                self._screen_ready.notify_all()
        elif status == consts.SMPP_ESME_ROK:
            with self._lock:
                self.submitted.append(record)
        if self.latency:
            threading.Timer(self.latency, self._answer, (conn, pdu.sequence, status,
                                                         message_id)).start()
        else:
            self._answer(conn, pdu.sequence, status, message_id)
        if status != consts.SMPP_ESME_ROK:
            return
        for listener in list(self.on_submit):
            listener(record)
        seq = concat.seq if concat else 1
        if (self.receipts and pdu.registered_delivery and record.ussd_op is None
                and seq not in self.unreceipted_parts):
            # Receipts write the id in decimal where the answer gave it in hex; one per part.
            stat = self.part_stats.get(seq, self.receipt_stat)
            text = (f"id:{int(message_id, 16)} sub:001 dlvrd:001 submit date:2612020400 "
                    f"done date:2612020401 stat:{stat} err:000 text:")
            self.deliver(text.encode(), source=destination, destination=record.source,
                         esm_class=codec.ESM_RECEIPT)
            with self._lock:
                self.receipts_sent += 1

    @staticmethod
    def _answer(conn: Connection, sequence: int, status: int, message_id: str) -> None:
        try:
            conn.send("submit_sm_resp", sequence, status=status, message_id=message_id)
        except OSError:
            pass  # the connection dropped meanwhile

    # ---- what the network sends ---------------------------------------------------------------

    def receiver(self) -> Connection:
        """A connection bound to receive (transceiver or receiver), waiting for one."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self._lock:
                for conn in self.connections:
                    if conn.bound in ("bind_transceiver", "bind_receiver"):
                        return conn
            time.sleep(0.01)
        raise AssertionError("no ESME bound to receive")

    def deliver(self, short_message: bytes = b"", *, source: str, destination: str = "3838",
                **fields: Any) -> None:
        """Send one deliver_sm to the bound ESME."""
        self.receiver().send("deliver_sm", source_addr=source, destination_addr=destination,
                             short_message=short_message, **fields)

    def send_sms(self, text: str, source: str, destination: str = "3838",
                 order: list[int] | None = None) -> int:
        """A member's SMS as the network delivers it (UDH parts, in ``order``); its parts."""
        parts = codec.split(text, reference=42)
        for index in order or range(len(parts)):
            part = parts[index]
            self.deliver(part.short_message, source=source, destination=destination,
                         data_coding=part.data_coding, esm_class=part.esm_class)
        return len(parts)

    def ussd(self, text: str, source: str, op: int, session: int,
             session_field: str = "its_session_info") -> None:
        """A USSD hop from the member's handset."""
        coding, data = codec.encode_whole(text)
        self.deliver(data, source=source, destination="384", data_coding=coding,
                     service_type="USSD", ussd_service_op=op, **{session_field: session})

    def ussd_screen(self, session: int, timeout: float = 20.0) -> Submitted:
        """The next USSD screen the ESME sent for ``session`` (waiting for it)."""
        with self._screen_ready:
            deadline = time.monotonic() + timeout
            while True:
                for screen in self.screens:
                    if screen.session == session:
                        self.screens.remove(screen)
                        return screen
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no USSD screen for session {session}")
                self._screen_ready.wait(left)
