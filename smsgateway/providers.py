"""Which provider adapter serves a provider name, built from the settings."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app

from handlers.base import Provider
from handlers.console import ConsoleProvider

from .config import Settings
from .exceptions import UnknownProvider

EXTENSION = "smsgateway.providers"


def _console(settings: Settings) -> Provider:
    return ConsoleProvider(echo=settings.console.echo)


#: Provider name -> factory. Each provider module in handlers/ adds one line here.
FACTORIES: dict[str, Callable[[Settings], Provider]] = {
    "console": _console,
}


def get_provider(name: str, app: Flask | None = None) -> Provider:
    """The app's adapter for ``name``, built once per app."""
    app = app or current_app
    cache: dict[str, Provider] = app.extensions.setdefault(EXTENSION, {})
    if name not in cache:
        factory = FACTORIES.get(name)
        if factory is None:
            raise UnknownProvider(name)
        cache[name] = factory(app.config["SETTINGS"])
    return cache[name]


def default_provider_name(app: Flask | None = None) -> str:
    """The provider for outbound SMS that are not replies."""
    return (app or current_app).config["SETTINGS"].sms_provider
