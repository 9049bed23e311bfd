"""Which SMPP channels exist and their settings.

Until the channels table lands (the Android issue), SMPP channels are declared in the
environment, as secrets are: ``SMPP_CHANNELS`` holds a JSON object, one key per channel name,
its value the channel's settings (:class:`handlers.smpp.SmppConfig` fields) with its
``password``. Tests add channels to the app directly with :func:`register`.
"""

from __future__ import annotations

import json
import os

from flask import Flask, current_app

from handlers.smpp import NAME, SmppConfig

from ..exceptions import ConfigError

EXTENSION = "smsgateway.smpp.channels"
ENV = "SMPP_CHANNELS"


def _from_environment() -> dict[str, SmppConfig]:
    raw = os.environ.get(ENV)
    if not raw:
        return {}
    try:
        declared = json.loads(raw)
        return {name: SmppConfig.from_settings(name, {k: v for k, v in s.items()
                                                      if k != "password"},
                                               s.get("password", ""))
                for name, s in declared.items()}
    except (ValueError, TypeError, AttributeError) as error:
        # The message names the setting, never the value (it holds a password).
        raise ConfigError(ENV, f"is not a JSON object of SMPP channels ({error})") from None


def channels(app: Flask | None = None) -> dict[str, SmppConfig]:
    """Every SMPP channel of the app, by name."""
    app = app or current_app
    if EXTENSION not in app.extensions:
        app.extensions[EXTENSION] = _from_environment()
    return app.extensions[EXTENSION]


def register(app: Flask, config: SmppConfig) -> None:
    """Add (or replace) an SMPP channel."""
    channels(app)[config.name] = config


def for_provider(provider: str, app: Flask | None = None) -> SmppConfig | None:
    """The channel that a provider name (``smpp:<channel>``) stands for."""
    kind, _, name = provider.partition(":")
    if kind != NAME:
        return None
    return channels(app).get(name)
