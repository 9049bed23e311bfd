"""Channel kind -> adapter: how a channel record's settings and secrets become a Provider.

The gateway reads a channel row and hands its plain values here (:class:`ChannelConfig`);
nothing here reads the database. A new kind is one module in handlers/ and one line in
:data:`KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .africastalking import AfricasTalkingProvider
from .android import CLOUD_URL, AndroidProvider
from .base import Provider
from .console import ConsoleProvider
from .http_channel import HttpChannelProvider, HttpConfig
from .twilio import TwilioProvider


@dataclass(frozen=True)
class ChannelConfig:
    """What an adapter is built from: a channel's values, its secrets decrypted."""

    id: int
    kind: str
    name: str
    address: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    #: Seconds to wait for an answer to a send request.
    timeout: float = 10.0
    #: The gateway's public base URL (status callbacks), if known.
    public_base_url: str | None = None

    def need(self, name: str, *, secret: bool = False) -> str:
        """A required setting (or secret); :class:`KeyError` names the one missing."""
        value = (self.secrets if secret else self.settings).get(name)
        if not value:
            raise KeyError(f"channel {self.name!r} ({self.kind}) needs {name!r}")
        return str(value)


def _console(config: ChannelConfig) -> Provider:
    return ConsoleProvider(echo=bool(config.settings.get("echo", True)))


def _africastalking(config: ChannelConfig) -> Provider:
    return AfricasTalkingProvider(
        config.need("username"), config.need("api_key", secret=True),
        sender=config.address or None,
        base_url=str(config.settings.get("base_url") or "https://api.africastalking.com"),
        timeout=config.timeout)


def _twilio(config: ChannelConfig) -> Provider:
    callback = (f"{config.public_base_url.rstrip('/')}/webhooks/twilio/status"
                if config.public_base_url else None)
    return TwilioProvider(
        config.need("account_sid"), config.need("auth_token", secret=True),
        config.address or None,
        base_url=str(config.settings.get("base_url") or "https://api.twilio.com"),
        status_callback=callback)


def _android(config: ChannelConfig) -> Provider:
    mode = str(config.settings.get("mode") or "local")
    base = str(config.settings.get("base_url") or (CLOUD_URL if mode == "cloud" else ""))
    if not base:
        raise KeyError(f"channel {config.name!r} (android) needs 'base_url'")
    sim = config.settings.get("sim_number")
    return AndroidProvider(
        base, str(config.settings.get("username") or "sms"), config.need("password", secret=True),
        mode=mode, sim_number=int(sim) if sim else None,
        delivery_reports=bool(config.settings.get("delivery_reports", True)),
        timeout=config.timeout)


def _http(config: ChannelConfig) -> Provider:
    try:
        settings = HttpConfig.from_settings(config.name, dict(config.settings),
                                            dict(config.secrets), channel_id=config.id)
    except ValueError as error:
        raise KeyError(f"channel {config.name!r} (http): {error}") from None
    return HttpChannelProvider(settings, config.public_base_url)


#: Channel kind -> factory of its adapter.
KINDS: dict[str, Callable[[ChannelConfig], Provider]] = {
    "console": _console,
    "africastalking": _africastalking,
    "twilio": _twilio,
    "android": _android,
    "http": _http,
    # "smpp" is added by smsgateway.smpp.init_app: its adapter hands messages to the link
    # process through Redis, which no module here may touch.
}


def build(config: ChannelConfig) -> Provider:
    """The adapter of a channel; :class:`KeyError` for an unknown kind or a missing value."""
    factory = KINDS.get(config.kind)
    if factory is None:
        raise KeyError(f"no adapter for channel kind {config.kind!r}")
    return factory(config)
