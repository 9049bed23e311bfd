"""CLI: ``channels add|list|test|enable|disable|remove|key``. Secrets are never printed.

The decisions are :mod:`smsgateway.services.channels`'; here options are read and outcomes
printed, acting as the operator.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers import android, registry

from ..channels import secrets
from ..db import get_db
from ..exceptions import NotPermitted, Refused
from ..models import Cooperative
from ..models.channels import Channel, ChannelState
from ..services import accounts
from ..services import channels as service

#: The option a refusal's field was typed in.
HINTS = {"base_url": "--base-url", "name": "NAME", "cooperative": "--coop", "mode": "--mode",
         "sim": "--sim", "per_minute": "--per-minute", "per_hour": "--per-hour",
         "per_day": "--per-day", "address": "--address", "password": "--password",
         "signing_key": "--signing-key", "channel": "ID", "kind": "KIND"}


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


@contextmanager
def _session() -> Iterator[Session]:
    """A session committed at the end; a refusal is said as the option it concerns."""
    with get_db().session() as session:
        try:
            yield session
        except NotPermitted as error:
            raise click.BadParameter(str(error), param_hint="ID") from None
        except Refused as error:
            hint = HINTS.get(error.field)
            if hint:
                raise click.BadParameter(error.message, param_hint=hint) from None
            raise click.ClickException(error.message) from None


def _operator() -> accounts.Actor:
    return accounts.operator("cli")


@channels.command("add")
@click.argument("kind", type=click.Choice(sorted(registry.KINDS)))
@click.argument("name")
@click.option("--coop", "slug", help="The cooperative's slug (unset: shared by all).")
@click.option("--address", default="", help="The SIM's number, or the sender id.")
@click.option("--base-url", help="Android: http://<phone>:8080 (local) or the server's API.")
@click.option("--mode", type=click.Choice(list(service.MODES)), default="local",
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
def add_command(kind: str, name: str, slug: str | None, register_webhooks: bool,
                webhook_base: str | None, extra: tuple[str, ...],
                extra_secrets: tuple[str, ...], **options: Any) -> None:
    """Add a channel of KIND called NAME."""
    settings = _pairs(extra, "--setting")
    sealed = _pairs(extra_secrets, "--secret")
    with _session() as session:
        if kind == android.NAME:
            # Asked only once the address is known good: a typo is said before any prompt.
            service.check_base_url(options["mode"], options["base_url"])
            options["password"] = options["password"] or click.prompt(
                "Phone password", hide_input=True)
            options["signing_key"] = options["signing_key"] or click.prompt(
                "Webhook signing key (Settings > Webhooks on the phone)", hide_input=True)
        coop_id = None
        if slug:
            coop_id = session.scalar(select(Cooperative.id).where(Cooperative.slug == slug))
            if coop_id is None:
                raise click.BadParameter(f"no cooperative {slug!r}", param_hint="--coop")
        channel = service.add_channel(
            session, _operator(), current_app.config["SETTINGS"], kind=kind, name=name,
            cooperative_id=coop_id, extra=settings, extra_secrets=sealed, **options)
        click.echo(f"channel {channel.id} added: {channel.name} ({kind}, "
                   f"{'cooperative ' + slug if slug else 'shared'})")
        if register_webhooks:
            url = service.register_webhooks(
                session, _operator(), channel,
                webhook_base or current_app.config["SETTINGS"].public_base_url)
            click.echo(f"webhooks registered on the phone: {url} "
                       f"({len(android.EVENTS)} events)")


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


def _seen(channel: Channel) -> str:
    return channel.last_seen.strftime("%Y-%m-%d %H:%M:%S") if channel.last_seen else "never"


@channels.command("test")
@click.argument("channel_id", type=int)
@with_appcontext
def test_command(channel_id: int) -> None:
    """Check a channel: build its adapter; ask a phone for its health."""
    with _session() as session:
        channel = service.find_channel(session, _operator(), channel_id)
        probe = service.check_channel(session, _operator(), channel)
        if probe.said == "unusable":
            raise click.ClickException(f"channel {channel_id} is not usable: {probe.detail}")
        if probe.said == "unreachable":
            raise click.ClickException(f"the phone did not answer: {probe.detail}")
        if probe.said == "cloud":
            click.echo(f"channel {channel_id}: cloud mode, watched through the phone's "
                       f"system:ping (last seen {_seen(channel)})")
        elif probe.said == "server":
            click.echo(f"channel {channel_id}: the server answers ({probe.status}); the "
                       f"phone is watched through its system:ping")
        elif probe.said == "answers":
            click.echo(f"channel {channel_id}: the phone answers ({probe.status})")
        else:
            click.echo(f"channel {channel_id}: {channel.kind} adapter ready")


def _set_state(channel_id: int, state: ChannelState) -> None:
    with _session() as session:
        channel = service.find_channel(session, _operator(), channel_id)
        service.set_state(session, _operator(), channel, state)
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
    with _session() as session:
        channel = service.find_channel(session, _operator(), channel_id)
        used = service.remove_channel(session, _operator(), channel)
    if used:
        click.echo(f"channel {channel_id} carried {used} messages: disabled, not removed")
    else:
        click.echo(f"channel {channel_id} removed")


@channels.command("key")
def key_command() -> None:
    """Print a new key for CHANNEL_KEY (keep the old one after it: CHANNEL_KEY=new,old)."""
    click.echo(secrets.new_key())
