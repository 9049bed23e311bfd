"""CLI: ``channels add|list|test|enable|disable|remove|key``. Secrets are never printed."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from handlers import android, registry
from handlers.base import SendError

from ..channels import adapter_for, config_of, secrets
from ..db import get_db
from ..models import Cooperative, OutboundMessage
from ..models.channels import Channel, ChannelState


def register(app: Flask) -> None:
    """Attach this module's commands to the app's CLI."""
    app.cli.add_command(channels)


@click.group()
def channels() -> None:
    """Channels: provider accounts and Android phones, shared or of one cooperative."""


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint=option)
        out[key.strip()] = rest
    return out


@channels.command("add")
@click.argument("kind", type=click.Choice(sorted(registry.KINDS)))
@click.argument("name")
@click.option("--coop", "slug", help="The cooperative's slug (unset: shared by all).")
@click.option("--address", default="", help="The SIM's number, or the sender id.")
@click.option("--base-url", help="Android: http://<phone>:8080 (local) or the server's API.")
@click.option("--mode", type=click.Choice(["local", "cloud", "private"]), default="local",
              show_default=True,
              help="Android: the phone's own server, the SMSGate cloud, or a private server.")
@click.option("--username", help="Android: basic auth user (the app shows it; 'sms').")
@click.option("--password", help="Android: basic auth password (asked when not given).")
@click.option("--signing-key", help="Android: the webhooks' signing key (asked when unset).")
@click.option("--sim", "sim_number", type=int, help="Android: SIM slot of a dual-SIM phone.")
@click.option("--per-minute", type=int, help="Segments per minute the carrier allows.")
@click.option("--per-hour", type=int, help="Segments per hour.")
@click.option("--per-day", type=int, help="Segments per day.")
@click.option("--setting", "extra", multiple=True, help="Another setting, KEY=VALUE.")
@click.option("--secret", "extra_secrets", multiple=True, help="Another secret, KEY=VALUE.")
@click.option("--register-webhooks", is_flag=True,
              help="Android: register the gateway's webhook URL on the phone.")
@click.option("--webhook-base", help="The gateway's address as the phone reaches it "
              "(default: PUBLIC_BASE_URL).")
@with_appcontext
def add_command(kind: str, name: str, slug: str | None, address: str, base_url: str | None,
                mode: str, username: str | None, password: str | None,
                signing_key: str | None, sim_number: int | None, per_minute: int | None,
                per_hour: int | None, per_day: int | None, extra: tuple[str, ...],
                extra_secrets: tuple[str, ...], register_webhooks: bool,
                webhook_base: str | None) -> None:
    """Add a channel of KIND called NAME."""
    settings = _pairs(extra, "--setting")
    sealed = _pairs(extra_secrets, "--secret")
    if kind == android.NAME:
        if mode == "local" and not base_url:
            raise click.BadParameter("the phone's address, e.g. http://192.168.1.20:8080",
                                     param_hint="--base-url")
        if mode == "private" and not base_url:
            raise click.BadParameter("the server's API, e.g. https://sms.coop.ma/3rdparty/v1",
                                     param_hint="--base-url")
        settings.update(mode=mode, username=username or "sms")
        if base_url:
            settings["base_url"] = base_url.rstrip("/")
        if sim_number:
            settings["sim_number"] = str(sim_number)
        sealed["password"] = password or click.prompt("Phone password", hide_input=True)
        sealed["signing_key"] = signing_key or click.prompt(
            "Webhook signing key (Settings > Webhooks on the phone)", hide_input=True)
    with get_db().session() as session:
        coop_id = None
        if slug:
            coop_id = session.scalar(select(Cooperative.id).where(Cooperative.slug == slug))
            if coop_id is None:
                raise click.BadParameter(f"no cooperative {slug!r}", param_hint="--coop")
        if session.scalar(select(Channel.id).where(Channel.name == name)) is not None:
            raise click.BadParameter(f"a channel is already called {name!r}",
                                     param_hint="NAME")
        channel = Channel(kind=kind, name=name, cooperative_id=coop_id, address=address,
                          settings=settings, secrets=secrets.get_box().seal(sealed),
                          rate_per_minute=per_minute, rate_per_hour=per_hour,
                          rate_per_day=per_day, health={})
        session.add(channel)
        session.flush()
        try:
            registry.build(config_of(channel, current_app.config["SETTINGS"]))
        except KeyError as error:
            raise click.ClickException(str(error).strip('"')) from None
        click.echo(f"channel {channel.id} added: {name} ({kind}, "
                   f"{'cooperative ' + slug if slug else 'shared'})")
        if register_webhooks:
            _register(channel, webhook_base)


def _register(channel: Channel, webhook_base: str | None) -> None:
    base = webhook_base or current_app.config["SETTINGS"].public_base_url
    if not base:
        raise click.ClickException("--register-webhooks needs --webhook-base or "
                                   "PUBLIC_BASE_URL: the address the phone reaches")
    adapter = adapter_for(channel)
    if not isinstance(adapter, android.AndroidProvider):
        raise click.ClickException("only Android channels register webhooks")
    url = f"{base.rstrip('/')}/webhooks/android/{channel.id}"
    for event in android.EVENTS:
        try:
            adapter.register_webhook(url, event, f"smsgateway-{channel.id}-"
                                     f"{event.replace(':', '-')}")
        except SendError as error:
            raise click.ClickException(f"the phone refused the {event} webhook: "
                                       f"{error.reason}") from None
        except Exception as error:  # noqa: BLE001 - a network error, said plainly
            raise click.ClickException(f"could not reach the phone: "
                                       f"{type(error).__name__}") from None
    click.echo(f"webhooks registered on the phone: {url} ({len(android.EVENTS)} events)")


@channels.command("list")
@with_appcontext
def list_command() -> None:
    """Every channel: kind, owner, state, rates, last seen, health (never its secrets)."""
    with get_db().session() as session:
        slugs = dict(session.execute(select(Cooperative.id, Cooperative.slug)).all())
        for c in session.scalars(select(Channel).order_by(Channel.id)):
            rates = "/".join(str(r) if r else "-" for r in (
                c.rate_per_minute, c.rate_per_hour, c.rate_per_day))
            health = ", ".join(f"{k}={v}" for k, v in sorted((c.health or {}).items())
                               if not isinstance(v, (dict, list)))
            seen = c.last_seen.strftime("%Y-%m-%d %H:%M:%S") if c.last_seen else "never"
            click.echo(f"{c.id:>3} {c.name:<28} {c.kind:<14} "
                       f"{slugs.get(c.cooperative_id, 'shared'):<12} {c.state:<8} "
                       f"rate m/h/d {rates:<14} seen {seen}"
                       + (f"  [{health}]" if health else ""))


def _channel(session: object, channel_id: int) -> Channel:
    channel = session.get(Channel, channel_id)  # type: ignore[attr-defined]
    if channel is None:
        raise click.BadParameter(f"no channel {channel_id}", param_hint="ID")
    return channel


@channels.command("test")
@click.argument("channel_id", type=int)
@with_appcontext
def test_command(channel_id: int) -> None:
    """Check a channel: build its adapter; ask a phone for its health."""
    with get_db().session() as session:
        channel = _channel(session, channel_id)
        try:
            adapter = adapter_for(channel)
        except (KeyError, ValueError) as error:
            raise click.ClickException(f"channel {channel_id} is not usable: {error}") from None
        if isinstance(adapter, android.AndroidProvider) and adapter.health_url is None:
            seen = channel.last_seen.strftime("%Y-%m-%d %H:%M:%S") if channel.last_seen else (
                "never")
            click.echo(f"channel {channel_id}: cloud mode, watched through the phone's "
                       f"system:ping (last seen {seen})")
        elif isinstance(adapter, android.AndroidProvider):
            try:
                health = adapter.health()
            except Exception as error:  # noqa: BLE001
                raise click.ClickException(f"the phone did not answer: "
                                           f"{type(error).__name__}") from None
            from ..services import channel_health

            if adapter.mode == "private":
                # The server answering says nothing of the phone: its pings say that.
                channel.health = {**(channel.health or {}), "server": health.get("status")}
                click.echo(f"channel {channel_id}: the server answers "
                           f"({health.get('status')}); the phone is watched through its "
                           f"system:ping")
                return
            channel_health.seen(session, channel, "health", _summary(health))
            click.echo(f"channel {channel_id}: the phone answers ({health.get('status')})")
        else:
            click.echo(f"channel {channel_id}: {channel.kind} adapter ready")


def _summary(health: dict[str, object]) -> dict[str, object]:
    checks = health.get("checks") if isinstance(health.get("checks"), dict) else {}
    out: dict[str, object] = {"status": health.get("status")}
    for key, check in checks.items():  # type: ignore[union-attr]
        if isinstance(check, dict) and "observedValue" in check:
            out[str(key).replace(":", "_")] = check["observedValue"]
    return out


def _set_state(channel_id: int, state: ChannelState) -> None:
    with get_db().session() as session:
        _channel(session, channel_id).state = state
    click.echo(f"channel {channel_id}: {state}")


@channels.command("disable")
@click.argument("channel_id", type=int)
@with_appcontext
def disable_command(channel_id: int) -> None:
    """Stop giving a channel work (its waiting messages move at their next send)."""
    _set_state(channel_id, ChannelState.DISABLED)


@channels.command("enable")
@click.argument("channel_id", type=int)
@with_appcontext
def enable_command(channel_id: int) -> None:
    """Give a disabled or down channel work again."""
    _set_state(channel_id, ChannelState.ACTIVE)


@channels.command("remove")
@click.argument("channel_id", type=int)
@with_appcontext
def remove_command(channel_id: int) -> None:
    """Remove a channel; one that carried messages is disabled instead (history kept)."""
    with get_db().session() as session:
        channel = _channel(session, channel_id)
        used = session.scalar(select(func.count()).select_from(OutboundMessage)
                              .where(OutboundMessage.channel_id == channel_id)) or 0
        if used:
            channel.state = ChannelState.DISABLED
            click.echo(f"channel {channel_id} carried {used} messages: disabled, not removed")
            return
        session.delete(channel)
    click.echo(f"channel {channel_id} removed")


@channels.command("key")
def key_command() -> None:
    """Print a new key for CHANNEL_KEY (keep the old one after it: CHANNEL_KEY=new,old)."""
    click.echo(secrets.new_key())
