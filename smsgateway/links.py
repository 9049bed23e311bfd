"""The operator and aggregator channels (SMPP links, HTTP APIs) and their settings.

Until the channels table lands (the Android issue), these channels are declared in the
environment, as secrets are: ``CHANNELS`` holds a JSON object, one key per channel name,
each ``{"kind": "smpp" | "http", "settings": {...}, "secrets": {...}}`` (the shape of a
channel row). Tests add channels to the app directly with :func:`register`.
"""

from __future__ import annotations

import json
import os
from typing import Any

from flask import Flask, current_app

from handlers import http_channel, smpp

from .exceptions import ConfigError

EXTENSION = "smsgateway.links"
ENV = "CHANNELS"

Config = smpp.SmppConfig | http_channel.HttpConfig


def build(name: str, kind: str, settings: dict[str, Any], secrets: dict[str, str]) -> Config:
    """A channel's adapter settings from its kind, settings and secrets."""
    if kind == smpp.NAME:
        return smpp.SmppConfig.from_settings(name, settings, secrets.get("password", ""))
    if kind == http_channel.NAME:
        return http_channel.HttpConfig.from_settings(name, settings, secrets)
    raise ValueError(f"channel {name!r}: unknown kind {kind!r}")


def _from_environment() -> dict[str, Config]:
    raw = os.environ.get(ENV)
    if not raw:
        return {}
    try:
        declared = json.loads(raw)
        return {name: build(name, spec["kind"], spec.get("settings", {}),
                            spec.get("secrets", {}))
                for name, spec in declared.items()}
    except (ValueError, TypeError, AttributeError, KeyError) as error:
        # The message names the problem, never a value (they hold passwords).
        raise ConfigError(ENV, f"is not a JSON object of channels ({error})") from None


def channels(app: Flask | None = None) -> dict[str, Config]:
    """Every operator and aggregator channel of the app, by name."""
    app = app or current_app
    if EXTENSION not in app.extensions:
        app.extensions[EXTENSION] = _from_environment()
    return app.extensions[EXTENSION]


def smpp_channels(app: Flask | None = None) -> dict[str, smpp.SmppConfig]:
    """The SMPP channels, by name."""
    return {n: c for n, c in channels(app).items() if isinstance(c, smpp.SmppConfig)}


def register(app: Flask, config: Config) -> None:
    """Add (or replace) a channel."""
    channels(app)[config.name] = config


def for_provider(provider: str, app: Flask | None = None) -> Config | None:
    """The channel that a provider name (``smpp:<name>``, ``http:<name>``) stands for."""
    kind, _, name = provider.partition(":")
    config = channels(app).get(name)
    if config is None or config.provider != provider:
        return None
    return config
