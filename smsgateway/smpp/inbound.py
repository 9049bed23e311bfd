"""What an SMSC delivers on the link: SMS (in parts or whole), receipts, USSD hops.

Each goes where the same thing from any channel goes: an SMS to
:func:`smsgateway.sms.inbound.receive` (its reply queued for this same channel), a receipt
to :func:`smsgateway.reports.apply_status`, a USSD hop to :func:`smsgateway.ussd.handle`,
whose screen goes back at once as a ``submit_sm`` (USSR request to continue, PSSR response
to end). The ``deliver_sm_resp`` is sent after the message is stored, so an SMSC that does
not hear it resends, and nothing acknowledged is lost.

Parts of a long SMS wait in Redis, keyed by sender and reference, until all have come or
``reassembly_seconds`` pass; then what arrived is stored, parts in order, marked incomplete.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from redis import Redis
from smpplib import consts
from sqlalchemy import select

from handlers.base import SmsIn, StatusUpdate, UssdIn, international
from handlers.smpp import (
    ESM_RECEIPT,
    ESM_TYPE_MASK,
    Inbound,
    Receipt,
    SmppConfig,
    encode_whole,
    id_spellings,
    read_deliver_sm,
    ussd_dial_text,
)

from .. import ussd
from ..config import Settings
from ..db import Database
from ..models import OutboundMessage
from ..reports import apply_status
from ..sms.inbound import receive

if TYPE_CHECKING:
    from .link import Link

log = logging.getLogger(__name__)

PARTS_KEY = "smsgateway:smpp:{name}:in:{source}:{ref}:{total}"
WAITING = "smsgateway:smpp:{name}:in-waiting"
USSD_KEY = "smsgateway:smpp:{name}:ussd:{source}:{session}"
#: How long a receipt may wait for its message's id to be recorded.
EARLY_RECEIPT_SECONDS = 60.0
#: How often waiting parts are looked at for their time limit.
EXPIRY_CHECK_SECONDS = 5.0


class InboundHandler:
    """Turns each ``deliver_sm`` of one channel into the gateway's neutral messages."""

    def __init__(self, config: SmppConfig, settings: Settings, redis: Redis, db: Database,
                 link: Link) -> None:
        self.config, self.settings, self.redis, self.db, self.link = (
            config, settings, redis, db, link)
        self.checked_at = 0.0
        #: Receipts whose message id was not yet recorded, with when they came.
        self.early: list[tuple[float, Receipt]] = []

    @staticmethod
    def receipt_pending(pdu: Any) -> bool:
        """Whether ``pdu`` is a delivery receipt."""
        return (getattr(pdu, "esm_class", 0) or 0) & ESM_TYPE_MASK == ESM_RECEIPT

    def handle(self, pdu: Any) -> int:
        """Act on one deliver_sm; the command_status of its answer."""
        try:
            inbound = read_deliver_sm(pdu, self.config.ussd_session_field)
        except Exception:  # noqa: BLE001 - a PDU we cannot read is refused, not a crash
            log.exception("smpp %s: unreadable deliver_sm", self.config.name)
            return consts.SMPP_ESME_RX_P_APPN  # permanent: resending will not help
        if inbound.receipt is not None:
            self._receipt(inbound)
        elif inbound.ussd_op is not None:
            self._ussd(inbound)
        elif inbound.concat is not None and inbound.concat.total > 1:
            self._part(inbound)
        else:
            self._sms(inbound.source, inbound.destination, inbound.text)
        return consts.SMPP_ESME_ROK

    # ---- SMS -----------------------------------------------------------------------------

    def _phone(self, source: str) -> str:
        return international(source)

    def _sms(self, source: str, destination: str, text: str, **raw: str) -> None:
        sms = SmsIn(provider=self.config.provider,
                    # SMPP gives an inbound message no id: ours, unique per message.
                    provider_message_id=f"smpp-{uuid.uuid4().hex}",
                    sender=self._phone(source), recipient=destination, text=text,
                    raw={"source_addr": source, "destination_addr": destination, **raw})
        with self.db.session() as session:
            receive(session, sms, self.settings, self.redis, reply_provider=self.config.provider,
                    channel_id=self.config.channel_id)

    def _part(self, inbound: Inbound) -> None:
        concat = inbound.concat
        assert concat is not None
        key = PARTS_KEY.format(name=self.config.name, source=inbound.source,
                               ref=concat.reference, total=concat.total)
        waiting = WAITING.format(name=self.config.name)
        with self.redis.pipeline() as pipe:
            pipe.hset(key, str(concat.seq), inbound.text)
            pipe.hset(key, "to", inbound.destination)
            pipe.expire(key, int(self.config.reassembly_seconds * 4) + 60)
            pipe.zadd(waiting, {key: time.time()}, nx=True)
            pipe.hgetall(key)
            parts = pipe.execute()[-1]
        if len(parts) - 1 >= concat.total:
            self._assemble(key, parts, inbound.source, complete=True)

    def _assemble(self, key: str, parts: dict[bytes, bytes], source: str, complete: bool
                  ) -> None:
        # Delete first: of two copies racing here, only the one that deleted stores it.
        with self.redis.pipeline() as pipe:
            pipe.delete(key)
            pipe.zrem(WAITING.format(name=self.config.name), key)
            if not pipe.execute()[0]:
                return
        destination = parts.pop(b"to", b"").decode()
        text = "".join(v.decode() for _, v in sorted(parts.items(), key=lambda kv: int(kv[0])))
        extra = {} if complete else {"incomplete": "some parts never arrived"}
        self._sms(source, destination, text, **extra)

    def tick(self, now: float) -> None:
        """Store, as they are, long messages whose missing parts are past the time limit."""
        if now - self.checked_at < EXPIRY_CHECK_SECONDS:
            return
        self.checked_at = now
        if self.early:
            self.retry_early(now)
        waiting = WAITING.format(name=self.config.name)
        cutoff = time.time() - self.config.reassembly_seconds
        for raw_key in self.redis.zrangebyscore(waiting, 0, cutoff):
            key = raw_key.decode()
            parts = self.redis.hgetall(key)
            source = key.split(":")[-3]
            if parts:
                log.warning("smpp %s: long message from %s stored incomplete",
                            self.config.name, source)
                self._assemble(key, parts, source, complete=False)
            else:
                self.redis.zrem(waiting, key)

    # ---- receipts ------------------------------------------------------------------------

    def _receipt(self, inbound: Inbound) -> None:
        receipt = inbound.receipt
        assert receipt is not None
        if not self._apply(receipt, remember=False):
            # Its submit_sm_resp may not be recorded yet (on another bind, or still in the
            # batch): tried again after the next flushes, then left to the reports' memory.
            self.early.append((time.monotonic(), receipt))

    def _apply(self, receipt: Receipt, remember: bool) -> bool:
        # The SMSC may write the id otherwise than it answered it; ids are this channel's.
        spellings = [self.link.recorder.primary_id(s) for s in id_spellings(receipt.message_id)]
        with self.db.session() as session:
            known = session.scalar(select(OutboundMessage.provider_message_id).where(
                OutboundMessage.channel_id == self.config.channel_id,
                OutboundMessage.provider_message_id.in_(spellings)).limit(1))
            if known is None and not remember:
                return False
            report = StatusUpdate(
                provider=self.config.provider, provider_message_id=known or spellings[0],
                status=receipt.status, provider_status=receipt.stat,
                failure_reason=f"SMPP err:{receipt.error}" if receipt.error else None,
                error_code=receipt.error,
                # A long text goes as one PDU per part (UDH or SAR), each with its own id and
                # receipt; as one message_payload it has one of each.
                part=None if self.config.long_messages == "payload" else receipt.message_id)
            return apply_status(session, self.settings, self.redis, report,
                                remember_unheard=remember) is not None

    def retry_early(self, now: float) -> None:
        """Apply receipts that came before their message's id was recorded."""
        waiting, self.early = self.early, []
        for seen, receipt in waiting:
            late = now - seen > EARLY_RECEIPT_SECONDS
            if not self._apply(receipt, remember=late) and not late:
                self.early.append((seen, receipt))

    # ---- USSD ----------------------------------------------------------------------------

    def _ussd(self, inbound: Inbound) -> None:
        cfg = self.config
        key = USSD_KEY.format(name=cfg.name, source=inbound.source, session=inbound.session)
        ttl = self.settings.ussd.session_ttl_seconds
        if inbound.ussd_op == cfg.ussd_op_begin:
            # A new dial: a session of its own, whatever the network's session number.
            session_id = f"smpp-{cfg.name}-{uuid.uuid4().hex[:16]}"
            service = cfg.service_code or self.settings.ussd.service_code
            first = ussd_dial_text(inbound.text, service)
            inputs = [first] if first else []
        elif inbound.ussd_op == cfg.ussd_op_answer:
            stored = self.redis.hgetall(key)
            if not stored:
                self._screen(inbound, ussd.BUSY, end=True)
                return
            session_id = stored[b"session"].decode()
            done = stored.get(b"text", b"").decode()
            inputs = [*(done.split("*") if done else []), inbound.text]
        else:
            log.info("smpp %s: ussd_service_op %s ignored", cfg.name, inbound.ussd_op)
            return
        text = "*".join(inputs)
        hop = UssdIn(session_id=session_id, service_code=cfg.service_code,
                     phone=self._phone(inbound.source), network_code="", text=text)
        screen = ussd.handle(hop, self.settings, self.redis)
        if screen.end:
            self.redis.delete(key)
        else:
            self.redis.hset(key, mapping={"session": session_id, "text": text})
            self.redis.expire(key, ttl)
        self._screen(inbound, screen.text, screen.end)

    def _screen(self, inbound: Inbound, text: str, end: bool) -> None:
        cfg = self.config
        # A USSD screen (182 GSM-7 characters at most) travels whole, never in SMS parts.
        coding, data = encode_whole(text)
        fields: dict[str, Any] = dict(
            service_type=cfg.ussd_service_type, source_addr=inbound.destination,
            source_addr_ton=0, source_addr_npi=1, destination_addr=inbound.source,
            dest_addr_ton=cfg.dest_ton, dest_addr_npi=cfg.dest_npi,
            data_coding=coding, short_message=data,
            ussd_service_op=cfg.ussd_op_end if end else cfg.ussd_op_continue)
        if inbound.session is not None:
            fields[cfg.ussd_session_field] = inbound.session
        self.link.send_ussd(fields)

