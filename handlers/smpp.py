"""SMPP 3.4: a channel's settings, text to ``submit_sm`` parts and back, receipts, status names.

Pure: no socket here (the link process, :mod:`smsgateway.smpp.link`, owns the connection).

Library: **smpplib** (python-smpplib 2.2). It is the SMPP client with the longest record in
Python (since 2005, LGPL, in production at many aggregators, complete PDU tables), and the
gateway uses it for the part that is hard to get right, the PDU codec (every command, every
TLV) and the socket framing of :class:`smpplib.client.Client`. Its younger alternatives are
asyncio-only (``aiosmpplib``) or a 2026 Rust core (``smpp34``). Two of its gaps are covered
here instead of being worked around at each call:

- its ``DeliverSM`` does not declare the ``ussd_service_op`` TLV (its issue 104), so a USSD
  ``deliver_sm`` would raise or lose the op code: :func:`patch_smpplib` declares it;
- its ``gsm.make_parts`` may cut a GSM escape pair in two and counts parts its own way: the
  segmentation below packs parts exactly as :func:`menus.encoding.measure` counts them, so a
  text costs what the broadcast preview said.
"""

from __future__ import annotations

import random
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from smpplib import command, consts, smpp

from menus.encoding import (
    GSM7,
    GSM7_EXTENSION,
    MULTI_GSM7,
    MULTI_UCS2,
    SINGLE_GSM7,
    SINGLE_UCS2,
    encoding_of,
)

from .base import DELIVERED, EXPIRED, FAILED, SENT

NAME = "smpp"

# data_coding values (SMPP 3.4, 5.2.19).
GSM7_CODING = 0
LATIN1_CODING = 3
UCS2_CODING = 8
#: esm_class bits: a UDH leads short_message; a delivery receipt (SMSC delivery receipt).
ESM_UDHI = 0x40
ESM_RECEIPT = 0x04
ESM_TYPE_MASK = 0x3C

# The GSM 03.38 default alphabet in code order (0x1B is the escape to the extension table).
_GSM_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
              "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXT = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D,
            "]": 0x3E, "|": 0x40, "€": 0x65}
assert len(_GSM_BASIC) == 128 and set(_GSM_EXT) == set(GSM7_EXTENSION)
_GSM_ENCODE = {ch: i for i, ch in enumerate(_GSM_BASIC) if ch != "\x1b"}
_GSM_EXT_DECODE = {code: ch for ch, code in _GSM_EXT.items()}

#: Receipt words and ``message_state`` values to neutral statuses.
RECEIPT_STAT = {"DELIVRD": DELIVERED, "EXPIRED": EXPIRED, "DELETED": FAILED,
                "UNDELIV": FAILED, "REJECTD": FAILED, "ACCEPTD": SENT, "ENROUTE": SENT,
                "UNKNOWN": SENT}
MESSAGE_STATE = {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV",
                 6: "ACCEPTD", 7: "UNKNOWN", 8: "REJECTD"}
#: command_status values that mean "slow down and try again", not "this message is bad".
THROTTLING = frozenset({consts.SMPP_ESME_RTHROTTLED, consts.SMPP_ESME_RMSGQFUL})
#: Errors of the SMSC itself (not of the message): retried later like throttling.
TRANSIENT = frozenset({consts.SMPP_ESME_RSYSERR})

STATUS_NAMES = {value: name.removeprefix("SMPP_") for name, value in vars(consts).items()
                if name.startswith("SMPP_ESME_") and isinstance(value, int)}


def status_name(status: int) -> str:
    """``ESME_RTHROTTLED`` for 0x58; ``0x000000FF`` for a code SMPP 3.4 does not name."""
    return STATUS_NAMES.get(status, f"0x{status:08X}")


def patch_smpplib() -> None:
    """Declare ``ussd_service_op`` on smpplib's ``DeliverSM`` (python-smpplib issue 104)."""
    cls = command.DeliverSM
    if "ussd_service_op" not in cls.params:
        cls.params = {**cls.params, "ussd_service_op": command.Param(type=int, size=1)}
        cls.params_order = (*cls.params_order, "ussd_service_op")


patch_smpplib()


class Sequencer:
    """Sequence numbers for PDUs built outside a client (smpplib asks its ``client`` for one)."""

    def __init__(self, start: int = 0) -> None:
        self.sequence = start

    def next_sequence(self) -> int:
        """The next number, wrapping within SMPP's 1..0x7FFFFFFF."""
        self.sequence = self.sequence % 0x7FFFFFFF + 1
        return self.sequence


def parse(data: bytes) -> Any:
    """A raw PDU parsed by smpplib (unknown TLVs skipped, as SMPP 3.4 says)."""
    return smpp.parse_pdu(data, client=Sequencer(), allow_unknown_opt_params=True)


#: Settings every channel record may carry, read by the gateway, not by this adapter.
SHARED_SETTINGS = frozenset({"timeout", "source"})


@dataclass(frozen=True)
class SmppConfig:
    """One SMPP channel's settings (from its channel row: settings JSON plus its secret)."""

    name: str
    host: str
    port: int
    system_id: str
    #: The channel record this link serves.
    channel_id: int = 0
    password: str = field(repr=False, default="")
    system_type: str = ""
    #: ``transceiver``, or ``transmitter+receiver`` for two binds.
    bind: str = "transceiver"
    window: int = 10
    #: submit_sm per second the operator grants.
    throughput: float = 50.0
    enquire_link_seconds: float = 30.0
    source_addr: str = ""
    source_ton: int = 5
    source_npi: int = 0
    dest_ton: int = 1
    dest_npi: int = 1
    #: ``udh`` (concatenation IE in short_message), ``sar`` (TLVs) or ``payload``.
    long_messages: str = "udh"
    registered_delivery: int = 1
    #: Seconds within which the parts of an inbound long message must all arrive.
    reassembly_seconds: float = 300.0
    #: Seconds a message taken from the handover stream stays ours before another takes it.
    lease_seconds: float = 60.0
    # USSD over SMPP (operator-specific: from the operator's interface document).
    ussd_service_type: str = "USSD"
    ussd_session_field: str = "its_session_info"
    ussd_op_begin: int = 1      # PSSR indication: the member dialled
    ussd_op_answer: int = 18    # USSR confirm: she answered
    ussd_op_continue: int = 2   # USSR request: our screen, waiting for her
    ussd_op_end: int = 17       # PSSR response: our last screen
    service_code: str = ""

    @property
    def provider(self) -> str:
        """The provider name stored on this channel's messages (its kind)."""
        return NAME

    @classmethod
    def from_settings(cls, name: str, settings: dict[str, Any], password: str = "",
                      channel_id: int = 0) -> SmppConfig:
        """Build from a channel's settings mapping (values may be strings, as the CLI writes
        them); unknown keys are refused by name."""
        fields = cls.__dataclass_fields__
        known = set(fields) - {"name", "password", "channel_id"}
        settings = {k: v for k, v in settings.items() if k not in SHARED_SETTINGS}
        unknown = set(settings) - known
        if unknown:
            raise ValueError(f"unknown SMPP settings: {', '.join(sorted(unknown))}")
        for key, value in list(settings.items()):
            kind = fields[key].type
            if isinstance(value, str) and kind in ("int", "float"):
                settings[key] = int(value) if kind == "int" else float(value)
        if settings.get("long_messages", "udh") not in ("udh", "sar", "payload"):
            raise ValueError("long_messages must be udh, sar or payload")
        if settings.get("bind", "transceiver") not in ("transceiver", "transmitter+receiver"):
            raise ValueError("bind must be transceiver or transmitter+receiver")
        return cls(name=name, password=password, channel_id=channel_id, **settings)


# ---- encoding -------------------------------------------------------------------------------

def gsm7_encode(text: str) -> bytes:
    """GSM 03.38 unpacked (one septet per octet, as SMPP carries data_coding 0)."""
    out = bytearray()
    for ch in text:
        if ch in _GSM_EXT:
            out += bytes((0x1B, _GSM_EXT[ch]))
        else:
            out.append(_GSM_ENCODE[ch])
    return bytes(out)


def gsm7_decode(data: bytes) -> str:
    """Unpacked GSM 03.38 to text; an unknown escape reads as a space, as handsets do."""
    out, escape = [], False
    for byte in data:
        if escape:
            out.append(_GSM_EXT_DECODE.get(byte, " "))
            escape = False
        elif byte == 0x1B:
            escape = True
        else:
            out.append(_GSM_BASIC[byte & 0x7F])
    return "".join(out)


def decode(data: bytes, data_coding: int) -> str:
    """``short_message`` (or ``message_payload``) bytes to text by their ``data_coding``."""
    if data_coding == UCS2_CODING:
        return data.decode("utf-16-be", errors="replace")
    if data_coding in (LATIN1_CODING, 1):  # 1 is IA5/ASCII: a subset of Latin-1
        return data.decode("latin-1")
    if data_coding == GSM7_CODING or data_coding & 0xF0 == 0xF0:
        return gsm7_decode(data)
    return data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Part:
    """One ``submit_sm`` of a text: its encoded bytes and the PDU fields it needs."""

    data_coding: int
    short_message: bytes = b""
    esm_class: int = 0
    tlvs: dict[str, Any] = field(default_factory=dict)


def _chunks(text: str, encoding: str) -> list[str]:
    """Text split into parts exactly as :func:`menus.encoding.measure` counts them."""
    units = ([2 if ch in GSM7_EXTENSION else 1 for ch in text] if encoding == GSM7
             else [2 if ord(ch) > 0xFFFF else 1 for ch in text])
    single, multi = (SINGLE_GSM7, MULTI_GSM7) if encoding == GSM7 else (SINGLE_UCS2, MULTI_UCS2)
    if sum(units) <= single:
        return [text]
    chunks, start, used = [], 0, 0
    for index, unit in enumerate(units):
        # An escape pair or a surrogate pair is one unit of 2 here: never cut in two.
        if used + unit > multi:
            chunks.append(text[start:index])
            start, used = index, 0
        used += unit
    chunks.append(text[start:])
    return chunks


def _encode(text: str, encoding: str) -> bytes:
    return gsm7_encode(text) if encoding == GSM7 else text.encode("utf-16-be")


def encode_whole(text: str) -> tuple[int, bytes]:
    """``data_coding`` and bytes of a text sent in one PDU (a USSD screen)."""
    encoding = encoding_of(text)
    return (GSM7_CODING if encoding == GSM7 else UCS2_CODING), _encode(text, encoding)


def split(text: str, mode: str = "udh", reference: int | None = None) -> list[Part]:
    """The ``submit_sm`` parts of ``text``: GSM-7 when it fits, else UCS-2; long ones joined
    by a UDH concatenation header, SAR TLVs, or one ``message_payload`` (``mode``)."""
    encoding = encoding_of(text)
    coding = GSM7_CODING if encoding == GSM7 else UCS2_CODING
    chunks = _chunks(text, encoding)
    if len(chunks) == 1:
        return [Part(coding, _encode(text, encoding))]
    if mode == "payload":
        return [Part(coding, tlvs={"message_payload": _encode(text, encoding)})]
    if len(chunks) > 255:
        raise ValueError("a text of more than 255 parts cannot be sent")
    ref = reference if reference is not None else random.randrange(256)
    total = len(chunks)
    if mode == "sar":
        return [Part(coding, _encode(chunk, encoding),
                     tlvs={"sar_msg_ref_num": ref & 0xFFFF, "sar_total_segments": total,
                           "sar_segment_seqnum": seq})
                for seq, chunk in enumerate(chunks, 1)]
    return [Part(coding, bytes((5, 0, 3, ref & 0xFF, total, seq)) + _encode(chunk, encoding),
                 esm_class=ESM_UDHI)
            for seq, chunk in enumerate(chunks, 1)]


@dataclass(frozen=True)
class Concat:
    """Where an inbound part belongs: its message's reference, part count and place."""

    reference: int
    total: int
    seq: int


def read_udh(data: bytes) -> tuple[Concat | None, bytes]:
    """Split a UDH off ``short_message``: the concatenation IE (8- or 16-bit ref), the rest."""
    if not data:
        return None, data
    length = data[0]
    header, body = data[1 : 1 + length], data[1 + length :]
    concat, pos = None, 0
    while pos + 2 <= len(header):
        iei, size = header[pos], header[pos + 1]
        value = header[pos + 2 : pos + 2 + size]
        if iei == 0x00 and size == 3:
            concat = Concat(value[0], value[1], value[2])
        elif iei == 0x08 and size == 4:
            concat = Concat(struct.unpack(">H", value[:2])[0], value[2], value[3])
        pos += 2 + size
    return concat, body


@dataclass(frozen=True)
class Inbound:
    """A ``deliver_sm`` read: who, what, and where it belongs if it is one part of several."""

    source: str
    destination: str
    text: str
    concat: Concat | None = None
    receipt: Receipt | None = None
    ussd_op: int | None = None
    session: int | None = None


@dataclass(frozen=True)
class Receipt:
    """A delivery receipt: the SMSC's message id (as written), its word, the error code."""

    message_id: str
    stat: str
    status: str
    error: str | None = None


def _field(pdu: Any, name: str) -> Any:
    return getattr(pdu, name, None)


def _text_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    return value if isinstance(value, bytes) else str(value).encode("latin-1", "replace")


def address(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value or "")


def read_deliver_sm(pdu: Any, session_field: str = "its_session_info") -> Inbound:
    """Read a parsed ``deliver_sm``: a receipt, a USSD hop, or (a part of) an SMS."""
    coding = _field(pdu, "data_coding") or 0
    esm = _field(pdu, "esm_class") or 0
    payload = _field(pdu, "message_payload")
    data = _text_bytes(payload if payload else _field(pdu, "short_message"))
    concat = None
    if esm & ESM_UDHI:
        concat, data = read_udh(data)
    elif _field(pdu, "sar_total_segments"):
        concat = Concat(_field(pdu, "sar_msg_ref_num") or 0, pdu.sar_total_segments,
                        _field(pdu, "sar_segment_seqnum") or 1)
    text = decode(data, coding)
    source, destination = address(pdu.source_addr), address(pdu.destination_addr)
    if esm & ESM_TYPE_MASK == ESM_RECEIPT:
        return Inbound(source, destination, text, receipt=read_receipt(pdu, text))
    op = _field(pdu, "ussd_service_op")
    session = _field(pdu, session_field) if op is not None else None
    return Inbound(source, destination, text, concat=concat, ussd_op=op, session=session)


_PAIRS = re.compile(r"(\w+(?: \w+)?):(\S*)")


def read_receipt(pdu: Any, text: str) -> Receipt:
    """TLVs ``receipted_message_id`` and ``message_state`` when present, else the text
    ``id:... sub:... dlvrd:... submit date:... done date:... stat:... err:...``."""
    pairs = {k.lower(): v for k, v in _PAIRS.findall(text)}
    message_id = address(_field(pdu, "receipted_message_id")).rstrip("\x00") or pairs.get("id", "")
    state = _field(pdu, "message_state")
    stat = MESSAGE_STATE.get(state, "") if state is not None else pairs.get("stat", "").upper()
    error = pairs.get("err")
    return Receipt(message_id, stat or "UNKNOWN", RECEIPT_STAT.get(stat, SENT),
                   error if error and error.strip("0") else None)


def id_spellings(message_id: str) -> list[str]:
    """The ways an SMSC may write one message id: as given, hex as decimal, decimal as hex.

    Many SMSCs answer ``submit_sm_resp`` in hex and write the receipt's id in decimal (or the
    other way round): a receipt is matched against each spelling.
    """
    spellings = [message_id]
    value = message_id.strip()
    if re.fullmatch(r"[0-9]+", value):
        spellings += [format(int(value), "x"), format(int(value), "X")]
    if re.fullmatch(r"[0-9A-Fa-f]+", value):
        spellings.append(str(int(value, 16)))
    return list(dict.fromkeys(spellings))


def ussd_dial_text(dialled: str, service_code: str) -> str:
    """What follows the service code in a dial string: ``*384*123*1#`` -> ``1``."""
    dialled = dialled.strip()
    code = service_code.strip().rstrip("#")
    if code and dialled.startswith(code):
        return dialled[len(code) :].strip("*#")
    if dialled.startswith("*") and dialled.endswith("#"):
        # The operator sent a code we were not told of: no dial string can be read from it.
        return ""
    return dialled
