"""Messages in and out, and the broadcasts that fan out to many members."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from handlers import base as statuses

from ..db import Base, utcnow
from .types import JsonDict, Money, str_enum


class Channel(enum.StrEnum):
    """How a change or a message reached the gateway."""

    USSD = "ussd"
    SMS = "sms"
    WEB = "web"
    CLI = "cli"
    SYSTEM = "system"


class InboundStatus(enum.StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"


class InboundMessage(Base):
    """An SMS a provider handed us, stored before anything acts on it."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("provider", "provider_message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(30))
    provider_message_id: Mapped[str] = mapped_column(String(100))
    # The channel it came in on: its reply goes back there (NULL: before channels existed).
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id"), index=True)
    # E.164 when the number could be read; the provider's spelling otherwise.
    sender: Mapped[str] = mapped_column(String(40), index=True)
    recipient: Mapped[str] = mapped_column(String(40), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    status: Mapped[InboundStatus] = mapped_column(
        str_enum(InboundStatus, "inbound_status"), default=InboundStatus.RECEIVED
    )
    command: Mapped[str | None] = mapped_column(String(30))
    error: Mapped[str | None] = mapped_column(String(300))
    raw: Mapped[JsonDict]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]


class MessageKind(enum.StrEnum):
    REPLY = "reply"
    CONFIRMATION = "confirmation"
    ALERT = "alert"
    BROADCAST = "broadcast"


#: The ``failure_reason`` of a message whose recipient had told the provider STOP.
OPTED_OUT_REASON = "opted out"


class OutboundStatus(enum.StrEnum):
    # The handlers' neutral statuses: one spelling for what a report says and what is stored.
    QUEUED = statuses.QUEUED
    SENDING = statuses.SENDING
    SENT = statuses.SENT
    DELIVERED = statuses.DELIVERED
    FAILED = statuses.FAILED
    EXPIRED = statuses.EXPIRED
    # Its request reached the provider and no answer came back: it waits for a delivery
    # report naming its phone, then is sent again (smsgateway/reconcile.py).
    UNKNOWN = "unknown"


class BroadcastStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Broadcast(Base):
    """A message to many members: who, what in which language, when, and what it costs."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    # {"cooperatives": [ids], "groups": [names], "roles": [...], "languages": [...]}
    audience: Mapped[JsonDict]
    # {"fr": "...", "ar": "..."}; members whose language is missing get the cooperative's.
    texts: Mapped[JsonDict]
    urgent: Mapped[bool] = mapped_column(default=False)
    fold: Mapped[bool] = mapped_column(default=False)
    provider: Mapped[str] = mapped_column(String(30))
    status: Mapped[BroadcastStatus] = mapped_column(
        str_enum(BroadcastStatus, "broadcast_status"), default=BroadcastStatus.QUEUED, index=True
    )
    scheduled_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    recipients: Mapped[int] = mapped_column(default=0)
    estimated_cost: Mapped[Money] = mapped_column(default=Decimal("0"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    created_by_label: Mapped[str] = mapped_column(String(100), default="")
    channel: Mapped[str] = mapped_column(String(10), default="cli")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class OutboundMessage(Base):
    """One SMS to one phone, from the moment it is queued to its last delivery report."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        Index("ix_outbound_messages_broadcast_status", "broadcast_id", "status"),
        Index("ix_outbound_messages_provider_id", "provider", "provider_message_id"),
        # The sweep's two questions (which queued rows' jobs are gone, whose lease expired)
        # only ever look at unfinished rows: a small partial index, not one over history.
        Index("ix_outbound_messages_pending", "status", "lease_until",
              postgresql_where=text("status IN ('queued', 'sending')"),
              sqlite_where=text("status IN ('queued', 'sending')")),
        # One broadcast reaches one phone once, whatever the audience's overlaps.
        UniqueConstraint("broadcast_id", "to_phone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    to_phone: Mapped[str] = mapped_column(String(16), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[MessageKind] = mapped_column(str_enum(MessageKind, "message_kind"))
    provider: Mapped[str] = mapped_column(String(30))
    # The channel that sends it (its ``provider`` is the channel's kind); NULL: the
    # environment's provider, as before channels existed.
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id"), index=True)
    sender: Mapped[str | None] = mapped_column(String(30))
    encoding: Mapped[str] = mapped_column(String(5), default="GSM-7")
    segments: Mapped[int] = mapped_column(default=1)
    status: Mapped[OutboundStatus] = mapped_column(
        str_enum(OutboundStatus, "outbound_status"), default=OutboundStatus.QUEUED
    )
    provider_message_id: Mapped[str | None] = mapped_column(String(100))
    provider_status: Mapped[str | None] = mapped_column(String(40))
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    error_code: Mapped[str | None] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(default=0)
    # The RQ job meant to send a queued row (see smsgateway.jobs): the sweep re-enqueues a
    # queued row whose job no longer exists. NULL for a reply waiting for its phone's turn.
    job_id: Mapped[str | None] = mapped_column(String(40))
    # While ``sending``: the claiming job renews this between provider rounds; once it has
    # passed, the job's worker is gone and the sweep puts the row back in a queue.
    lease_until: Mapped[datetime | None]
    cost: Mapped[Money | None]
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id"))
    in_reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    status_at: Mapped[datetime | None]

    broadcast: Mapped[Broadcast | None] = relationship()
