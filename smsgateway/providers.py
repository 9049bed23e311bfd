"""Which provider adapter serves a provider name, built from the settings."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app

from handlers.africastalking import AfricasTalkingProvider
from handlers.base import Provider
from handlers.console import ConsoleProvider
from handlers.twilio import TwilioProvider

from .config import Settings
from .exceptions import ConfigError, UnknownProvider

EXTENSION = "smsgateway.providers"


def _console(settings: Settings) -> Provider:
    return ConsoleProvider(echo=settings.console.echo)


def _africastalking(settings: Settings) -> Provider:
    at = settings.africastalking
    if not at.configured:
        raise ConfigError("AFRICASTALKING_API_KEY", "is needed to send through Africa's Talking")
    return AfricasTalkingProvider(at.username or "", at.api_key or "", sender=at.sender,
                                  base_url=at.base_url, timeout=at.timeout)


def _twilio(settings: Settings) -> Provider:
    tw = settings.twilio
    if not tw.configured:
        raise ConfigError("TWILIO_AUTH_TOKEN", "is needed to send through Twilio")
    callback = (f"{settings.public_base_url.rstrip('/')}/webhooks/twilio/status"
                if settings.public_base_url else None)
    return TwilioProvider(tw.account_sid or "", tw.auth_token or "", tw.sender,
                          base_url=tw.base_url, status_callback=callback)


#: Provider name -> factory. Each provider module in handlers/ adds one line here.
FACTORIES: dict[str, Callable[[Settings], Provider]] = {
    "console": _console,
    "africastalking": _africastalking,
    "twilio": _twilio,
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
