"""Operator and aggregator links: the SMPP and HTTP channel records, as their adapters read them.

Channels are records (:class:`smsgateway.models.channels.Channel`, kinds ``smpp`` and
``http``); this module turns one into the settings its adapter and its link process need,
its secrets decrypted (never log what it returns).
"""

from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy import select

from handlers import http_channel, smpp
from handlers.registry import ChannelConfig

from .channels import config_of
from .db import get_db
from .models.channels import Channel, ChannelState


def smpp_config(config: ChannelConfig) -> smpp.SmppConfig:
    """The SMPP settings of a channel record's plain values."""
    return smpp.SmppConfig.from_settings(config.name, dict(config.settings),
                                         config.secrets.get("password", ""),
                                         channel_id=config.id)


def smpp_channels(app: Flask | None = None) -> dict[str, smpp.SmppConfig]:
    """Every SMPP channel that is not disabled, by name (a link serves a channel gone down)."""
    app = app or current_app
    with get_db(app).session() as session:
        rows = session.scalars(select(Channel).where(
            Channel.kind == smpp.NAME, Channel.state != ChannelState.DISABLED)
            .order_by(Channel.id)).all()
        return {row.name: smpp_config(config_of(row, app.config["SETTINGS"], app))
                for row in rows}


def http_channel_named(session: object, name: str, app: Flask | None = None
                       ) -> http_channel.HttpConfig | None:
    """The HTTP channel called ``name``, or None."""
    app = app or current_app
    row = session.scalar(  # type: ignore[attr-defined]
        select(Channel).where(Channel.kind == http_channel.NAME, Channel.name == name))
    if row is None:
        return None
    config = config_of(row, app.config["SETTINGS"], app)
    return http_channel.HttpConfig.from_settings(row.name, dict(config.settings),
                                                 dict(config.secrets), channel_id=row.id)
