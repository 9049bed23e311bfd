"""Channels as records: their adapters (built once per app and version), secrets and rates.

Which channel carries a message is decided in :mod:`smsgateway.services.routing`; the CLI is
:mod:`smsgateway.cli.channels`.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from handlers import registry
from handlers.base import Provider

from ..config import Settings
from ..models.channels import Channel
from ..providers import get_provider
from . import secrets

EXTENSION = "smsgateway.channel-adapters"

__all__ = ["Rates", "adapter_for", "config_of", "init_app", "rates_of"]


def init_app(app: Flask) -> None:
    """Set up the secret box and the adapters' cache."""
    secrets.init_app(app)
    app.extensions[EXTENSION] = {}


def config_of(channel: Channel, settings: Settings, app: Flask | None = None
              ) -> registry.ChannelConfig:
    """The plain values an adapter is built from, secrets decrypted (never log this)."""
    return registry.ChannelConfig(
        id=channel.id, kind=channel.kind, name=channel.name, address=channel.address or "",
        settings=dict(channel.settings or {}),
        secrets=secrets.get_box(app).open(channel.secrets or ""),
        timeout=float((channel.settings or {}).get("timeout") or settings.channels.timeout),
        public_base_url=settings.public_base_url)


def adapter_for(channel: Channel, app: Flask | None = None) -> Provider:
    """The adapter of ``channel``: the environment's provider, or one built from the record.

    Built once per channel and version (``updated_at``), so a changed password takes effect
    without a restart and an unchanged channel costs no decryption per send.
    """
    app = app or current_app
    if channel.from_environment:
        return get_provider(channel.kind, app)
    cache: dict[tuple[int, object], Provider] = app.extensions[EXTENSION]
    key = (channel.id, channel.updated_at)
    adapter = cache.get(key)
    if adapter is None:
        adapter = registry.build(config_of(channel, app.config["SETTINGS"], app))
        for old in [k for k in cache if k[0] == channel.id]:
            del cache[old]
        cache[key] = adapter
    return adapter


@dataclass(frozen=True)
class Rates:
    """How fast a channel may send: a steady pace, and a daily quota (None: none)."""

    per_second: float
    per_day: int | None = None


def rates_of(channel: Channel, settings: Settings) -> Rates:
    """The channel's pace (the strictest of its per-minute and per-hour rates) and quota."""
    paces = [float(getattr(settings.rate_limits, channel.kind, 1000))] if (
        channel.from_environment or not (channel.rate_per_minute or channel.rate_per_hour)
    ) else []
    if channel.rate_per_minute:
        paces.append(channel.rate_per_minute / 60)
    if channel.rate_per_hour:
        paces.append(channel.rate_per_hour / 3600)
    return Rates(per_second=min(paces), per_day=channel.rate_per_day)
