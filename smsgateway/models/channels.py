"""Channels: the ways the gateway reaches members (a provider account, an Android phone, ...)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow
from .types import JsonDict, str_enum


class ChannelState(enum.StrEnum):
    """Whether a channel takes work: ``down`` is set by the health watch, ``disabled`` by hand."""

    ACTIVE = "active"
    DISABLED = "disabled"
    DOWN = "down"


#: ``settings["source"]`` of a channel the gateway made for a provider configured in the
#: environment: its adapter is built from the settings, its secrets stay in the environment.
ENVIRONMENT = "environment"


class Channel(Base):
    """One channel: its kind (adapter), owner (a cooperative, or shared), state and rates.

    ``secrets`` holds a Fernet token of a JSON object (passwords, signing keys, API keys):
    read it only through :mod:`smsgateway.channels.secrets`.
    """

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    # NULL: shared by every cooperative without a channel of its own.
    cooperative_id: Mapped[int | None] = mapped_column(ForeignKey("cooperatives.id"),
                                                       index=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # The number the SIM answers on, or the sender id shown to members.
    address: Mapped[str] = mapped_column(String(40), default="")
    settings: Mapped[JsonDict]
    secrets: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[ChannelState] = mapped_column(
        str_enum(ChannelState, "channel_state"), default=ChannelState.ACTIVE)
    # Segments the carrier lets this SIM or account send; NULL: no limit of that span.
    rate_per_minute: Mapped[int | None]
    rate_per_hour: Mapped[int | None]
    rate_per_day: Mapped[int | None]
    last_seen: Mapped[datetime | None]
    # What the channel last said of itself (battery, signal, queue, failed messages).
    health: Mapped[JsonDict]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def from_environment(self) -> bool:
        """Whether the gateway made this channel for a provider set in the environment."""
        return (self.settings or {}).get("source") == ENVIRONMENT
