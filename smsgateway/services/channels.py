"""Channels managed by hand: adding one (its secrets encrypted), testing, enabling and
disabling, removing, and registering a phone's webhooks. The CLI and the dashboard both ask
here.

Who may manage a channel: the operator and an administrator every one (shared ones too); a
coordinator her own cooperative's only, while her membership is a coordinator's; anyone else
none. A channel she may not manage is answered like an unknown one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handlers import android, registry
from handlers.base import SendError

from ..channels import adapter_for, config_of, secrets
from ..config import Settings
from ..exceptions import NotPermitted, Refused
from ..models import Cooperative, OutboundMessage
from ..models.channels import Channel, ChannelState
from . import channel_health
from .accounts import Actor, record

MODES = ("local", "cloud", "private")
#: A rate above this is a typing error, not a carrier's allowance.
MAX_RATE = 1_000_000


def may_manage(actor: Actor, channel_cooperative_id: int | None) -> bool:
    """Whether ``actor`` may change a channel of that cooperative (None: a shared one)."""
    account = actor.account
    if account is None:
        return actor.label == "operator"
    if not account.active:
        return False
    if account.is_administrator:
        return True
    member = actor.member
    return (channel_cooperative_id is not None
            and account.cooperative_id == channel_cooperative_id
            and member is not None and member.active and member.is_coordinator)


def find_channel(session: Session, actor: Actor, channel_id: int) -> Channel:
    """The channel ``actor`` may manage; :class:`NotPermitted` when unknown or not hers."""
    channel = session.get(Channel, channel_id)
    if channel is None or not may_manage(actor, channel.cooperative_id):
        raise NotPermitted(f"no channel {channel_id}")
    return channel


def _rate(value: int | None, field: str) -> int | None:
    if value is None:
        return None
    if value <= 0 or value > MAX_RATE:
        raise Refused(field, f"a number of SMS from 1 to {MAX_RATE:,}", key="rate",
                      most=MAX_RATE)
    return value


def check_base_url(mode: str, base_url: str | None) -> str | None:
    """The address a phone (or its server) is reached at, cleaned; refused when unusable."""
    base = (base_url or "").strip().rstrip("/")
    if not base:
        if mode == "local":
            raise Refused("base_url", "the phone's address, e.g. http://192.168.1.20:8080",
                          key="base_url_local")
        if mode == "private":
            raise Refused("base_url", "the server's API, e.g. https://sms.coop.ma/3rdparty/v1",
                          key="base_url_private")
        return None
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(base) > 300:
        raise Refused("base_url", f"{base!r} is not an http:// or https:// address",
                      key="base_url_bad")
    return base


def _android(settings: dict[str, str], sealed: dict[str, str], *, mode: str,
             base_url: str | None, username: str | None, password: str | None,
             signing_key: str | None, sim_number: int | None) -> None:
    if mode not in MODES:
        raise Refused("mode", f"{mode!r}: one of {', '.join(MODES)}", key="mode")
    base = check_base_url(mode, base_url)
    settings.update(mode=mode, username=(username or "").strip() or "sms")
    if base:
        settings["base_url"] = base
    if sim_number is not None and not 0 <= sim_number <= 9:
        raise Refused("sim", "the SIM slot: 1 or 2", key="sim")
    if sim_number:
        settings["sim_number"] = str(sim_number)
    if not password:
        raise Refused("password", "the phone's password is needed", key="password")
    if not signing_key:
        raise Refused("signing_key", "the webhooks' signing key is needed", key="signing_key")
    sealed.update(password=password, signing_key=signing_key)


def add_channel(session: Session, actor: Actor, app_settings: Settings, *, kind: str,
                name: str, cooperative_id: int | None, address: str = "",
                mode: str = "local", base_url: str | None = None, username: str | None = None,
                password: str | None = None, signing_key: str | None = None,
                sim_number: int | None = None, per_minute: int | None = None,
                per_hour: int | None = None, per_day: int | None = None,
                extra: Mapping[str, str] | None = None,
                extra_secrets: Mapping[str, str] | None = None) -> Channel:
    """A new channel of ``cooperative_id`` (None: shared), secrets sealed; the caller commits."""
    if kind not in registry.KINDS:
        raise Refused("kind", f"{kind!r}: one of {', '.join(sorted(registry.KINDS))}",
                      key="kind")
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise Refused("name", "a name of 1 to 100 characters", key="name")
    # Asked first: another cooperative's id is answered like an unknown one.
    if not may_manage(actor, cooperative_id):
        raise NotPermitted(f"cooperative {cooperative_id}: not found")
    if cooperative_id is not None and session.get(Cooperative, cooperative_id) is None:
        raise Refused("cooperative", f"no cooperative {cooperative_id}", key="cooperative")
    address = (address or "").strip()
    if len(address) > 40:
        raise Refused("address", "at most 40 characters", key="address")
    rates = [_rate(value, field) for value, field in (
        (per_minute, "per_minute"), (per_hour, "per_hour"), (per_day, "per_day"))]
    settings = dict(extra or {})
    sealed = dict(extra_secrets or {})
    if kind == android.NAME:
        _android(settings, sealed, mode=mode, base_url=base_url, username=username,
                 password=password, signing_key=signing_key, sim_number=sim_number)
    if session.scalar(select(Channel.id).where(Channel.name == name)) is not None:
        raise Refused("name", f"a channel is already called {name!r}", key="name_taken",
                      name=name)
    channel = Channel(kind=kind, name=name, cooperative_id=cooperative_id, address=address,
                      settings=settings, secrets=secrets.get_box().seal(sealed),
                      rate_per_minute=rates[0], rate_per_hour=rates[1],
                      rate_per_day=rates[2], health={})
    session.add(channel)
    session.flush()
    try:
        registry.build(config_of(channel, app_settings))
    except (KeyError, ValueError) as error:
        raise Refused("settings", str(error).strip('"'), key="unusable") from None
    # Never the secrets, nor the address it is reached at: only what names it.
    record(session, actor, "channel.add", "channel", channel.id, cooperative_id,
           name=name, kind=kind)
    return channel


@dataclass(frozen=True)
class Probe:
    """What testing a channel found; ``said`` names it (the CLI and the page word it).

    ``answers`` (a phone's /health: with its battery), ``server`` (a private server answers;
    the phone is watched through its pings), ``cloud`` (no probe: its pings, last seen),
    ``ready`` (a provider's adapter builds), ``unusable`` (it does not: ``detail`` why),
    ``unreachable`` (no answer: ``detail`` names the error).
    """

    said: str
    status: str = ""
    battery: Any = None
    signal: Any = None
    last_seen: datetime | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Whether the channel answered (or needs no answer)."""
        return self.said not in ("unusable", "unreachable")


def _summary(health: dict[str, Any]) -> dict[str, Any]:
    checks = health.get("checks") if isinstance(health.get("checks"), dict) else {}
    out: dict[str, Any] = {"status": health.get("status")}
    for key, check in checks.items():  # type: ignore[union-attr]
        if isinstance(check, dict) and "observedValue" in check:
            out[str(key).replace(":", "_")] = check["observedValue"]
    return out


def _probe(session: Session, channel: Channel) -> Probe:
    try:
        adapter = adapter_for(channel)
    except (KeyError, ValueError) as error:
        return Probe("unusable", detail=str(error).strip('"'))
    if not isinstance(adapter, android.AndroidProvider):
        return Probe("ready")
    if adapter.health_url is None:
        return Probe("cloud", last_seen=channel.last_seen)
    try:
        health = adapter.health()
    except Exception as error:  # noqa: BLE001 - a phone not answering is what is asked
        return Probe("unreachable", detail=type(error).__name__)
    status = str(health.get("status") or "")
    if adapter.mode == "private":
        # The server answering says nothing of the phone: its pings say that.
        channel.health = {**(channel.health or {}), "server": health.get("status")}
        return Probe("server", status=status)
    channel_health.seen(session, channel, "health", _summary(health))
    battery, signal = channel_health.phone_vitals(channel.health)
    return Probe("answers", status=status, battery=battery, signal=signal,
                 last_seen=channel.last_seen)


def check_channel(session: Session, actor: Actor, channel: Channel) -> Probe:
    """Build the channel's adapter and ask a phone (or its server) for its health."""
    if not may_manage(actor, channel.cooperative_id):
        raise NotPermitted(f"no channel {channel.id}")
    probe = _probe(session, channel)
    record(session, actor, "channel.test", "channel", channel.id, channel.cooperative_id,
           said=probe.said)
    return probe


def set_state(session: Session, actor: Actor, channel: Channel, state: ChannelState) -> None:
    """Enable (work again) or disable (no more work; its waiting messages move on)."""
    if not may_manage(actor, channel.cooperative_id):
        raise NotPermitted(f"no channel {channel.id}")
    if state == ChannelState.DOWN:
        raise Refused("state", "down is the health watch's to set", key="state")
    before = channel.state
    channel.state = state
    record(session, actor, "channel.enable" if state == ChannelState.ACTIVE
           else "channel.disable", "channel", channel.id, channel.cooperative_id,
           name=channel.name, before=str(before))


def remove_channel(session: Session, actor: Actor, channel: Channel) -> int:
    """Remove a channel, or disable one that carried messages (history kept): their count."""
    if not may_manage(actor, channel.cooperative_id):
        raise NotPermitted(f"no channel {channel.id}")
    used = session.scalar(select(func.count()).select_from(OutboundMessage)
                          .where(OutboundMessage.channel_id == channel.id)) or 0
    record(session, actor, "channel.disable" if used else "channel.remove", "channel",
           channel.id, channel.cooperative_id, name=channel.name, messages=used)
    if used:
        channel.state = ChannelState.DISABLED
    else:
        session.delete(channel)
    return used


def register_webhooks(session: Session, actor: Actor, channel: Channel,
                      webhook_base: str | None) -> str:
    """Register the gateway's webhook of every event on the phone; the URL registered."""
    if not may_manage(actor, channel.cooperative_id):
        raise NotPermitted(f"no channel {channel.id}")
    if not webhook_base:
        raise Refused("webhook_base", "--register-webhooks needs --webhook-base or "
                      "PUBLIC_BASE_URL: the address the phone reaches", key="webhook_base")
    adapter = adapter_for(channel)
    if not isinstance(adapter, android.AndroidProvider):
        raise Refused("kind", "only Android channels register webhooks", key="webhook_kind")
    url = f"{webhook_base.rstrip('/')}/webhooks/android/{channel.id}"
    for event in android.EVENTS:
        try:
            adapter.register_webhook(url, event, f"smsgateway-{channel.id}-"
                                     f"{event.replace(':', '-')}")
        except SendError as error:
            raise Refused("webhooks", f"the phone refused the {event} webhook: "
                          f"{error.reason}", key="webhook_refused", event=event) from None
        except Exception as error:  # noqa: BLE001 - a network error, said plainly
            raise Refused("webhooks", f"could not reach the phone: {type(error).__name__}",
                          key="webhook_unreachable", error=type(error).__name__) from None
    record(session, actor, "channel.webhooks", "channel", channel.id, channel.cooperative_id,
           url=url, events=len(android.EVENTS))
    return url
