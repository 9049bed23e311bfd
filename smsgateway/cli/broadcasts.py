"""CLI: ``members import``, ``broadcast send|status`` and ``segments``."""

from __future__ import annotations

import csv
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from menus.encoding import fold_to_gsm7, measure
from menus.languages import LANGUAGES
from menus.numbers import money

from .. import broadcasts
from ..broadcasts import duration
from ..db import get_db, utcnow
from ..models import Broadcast, Cooperative
from ..redisconn import get_redis
from .members_import import import_members


def register(app: Flask) -> None:
    """Attach this module's commands to the app's CLI."""
    for command in (members, broadcast, segments_command):
        app.cli.add_command(command)


@click.group()
def members() -> None:
    """Members of a cooperative."""


@members.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--coop", "slug", required=True, help="The cooperative's slug.")
@with_appcontext
def members_import(file: Path, slug: str) -> None:
    """Import members from a CSV file: phone,name,language,role,groups (groups split by ;)."""
    with get_db().session() as session:
        coop = _coop(session, slug)
        with file.open(newline="", encoding="utf-8-sig") as handle:
            total = sum(1 for _ in handle) - 1
            handle.seek(0)
            with click.progressbar(length=max(total, 0), label="importing",
                                   file=sys.stderr) as bar:
                report = import_members(session, coop, csv.DictReader(handle),
                                        current_app.config["SETTINGS"].defaults.region,
                                        progress=bar.update)
    for line, reason in report.errors:
        click.echo(f"line {line}: {reason}", err=True)
    click.echo(f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
               f"{len(report.errors)} rejected")


def _coop(session: object, slug: str) -> Cooperative:
    coop = session.scalar(select(Cooperative).where(Cooperative.slug == slug))  # type: ignore
    if coop is None:
        raise click.BadParameter(f"no cooperative {slug!r}", param_hint="--coop")
    return coop


@click.group()
def broadcast() -> None:
    """Send an alert to many members, and follow it."""


def _parse_when(value: str | None) -> datetime | None:
    if not value:
        return None
    zone = ZoneInfo(current_app.config["SETTINGS"].defaults.timezone)
    now = datetime.now(zone)
    try:
        if len(value) == 5 and value[2] == ":":
            hour, minute = map(int, value.split(":"))
            when = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
            return (when if when > now else when + timedelta(days=1)).astimezone(UTC)
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use HH:MM or YYYY-MM-DD HH:MM (local time)",
                                 param_hint="--at") from None
    return (when if when.tzinfo else when.replace(tzinfo=zone)).astimezone(UTC)


@broadcast.command("send")
@click.option("--coop", "slugs", multiple=True, required=True, help="Cooperative slug(s).")
@click.option("--group", "groups", multiple=True, help="Only members of these groups.")
@click.option("--lang", "languages", multiple=True,
              type=click.Choice(LANGUAGES), help="Only these languages.")
@click.option("--role", "roles", multiple=True, type=click.Choice(["member", "coordinator"]))
@click.option("--message", help="The text (for every language without its own).")
@click.option("--message-fr")
@click.option("--message-ar")
@click.option("--message-zgh")
@click.option("--message-en")
@click.option("--urgent", is_flag=True, help="Urgent alert: first in line, passes quiet hours.")
@click.option("--at", "at", help="Send at this local time (HH:MM or YYYY-MM-DD HH:MM).")
@click.option("--fold/--no-fold", default=None, help="Fold ê->e etc. to stay in GSM-7.")
@click.option("--expires-in", type=click.IntRange(1, 24 * 30), help="Hours until stale.")
@click.option("--dry-run", is_flag=True, help="Show the preview; send nothing.")
@with_appcontext
def broadcast_send(slugs: tuple[str, ...], groups: tuple[str, ...],
                   languages: tuple[str, ...], roles: tuple[str, ...], message: str | None,
                   message_fr: str | None, message_ar: str | None, message_zgh: str | None,
                   message_en: str | None, urgent: bool, at: str | None, fold: bool | None,
                   expires_in: int | None, dry_run: bool) -> None:
    """Preview, then send, a broadcast."""
    settings = current_app.config["SETTINGS"]
    fold = settings.broadcast.fold_by_default if fold is None else fold
    when = _parse_when(at)
    with get_db().session() as session:
        coops = [_coop(session, slug) for slug in slugs]
        texts = {lang: text for lang, text in (("fr", message_fr), ("ar", message_ar),
                                               ("zgh", message_zgh), ("en", message_en)) if text}
        if message:
            texts.setdefault(str(coops[0].default_language), message)
        if not texts:
            raise click.UsageError("give --message or at least one --message-LANG")
        try:
            preview = broadcasts.plan(session, settings, cooperative_ids=[c.id for c in coops],
                                      groups=groups, roles=roles, languages=languages,
                                      texts=texts, fold=fold)
        except ValueError as error:
            raise click.UsageError(str(error)) from None
        _print_plan(preview, settings.defaults.currency)
        click.echo("estimated time: " + duration.estimate(
            session, settings, coops[0].id, preview.recipients, preview.segments,
            urgent=urgent).describe())
        if dry_run:
            click.echo("dry run: nothing sent")
            return
        if preview.recipients == 0:
            click.echo("no recipient: nothing sent")
            return
        created = broadcasts.create(
            session, settings, cooperative_id=coops[0].id,
            audience={"cooperatives": [c.id for c in coops], "groups": list(groups),
                      "roles": list(roles), "languages": list(languages)},
            texts=texts, urgent=urgent, fold=fold, scheduled_at=when,
            expires_at=(when or utcnow()) + timedelta(hours=expires_in) if expires_in else None,
            created_by_label="cli", channel="cli")
        session.commit()
        broadcast_id, starts = created.id, created.scheduled_at
    broadcasts.start(get_db(), get_redis(), broadcast_id)
    if starts:
        zone = ZoneInfo(settings.defaults.timezone)
        click.echo(f"broadcast {broadcast_id} scheduled for "
                   f"{starts.astimezone(zone):%Y-%m-%d %H:%M} ({settings.defaults.timezone})")
    else:
        click.echo(f"broadcast {broadcast_id} queued")


def _print_plan(preview: broadcasts.Plan, currency: str) -> None:
    def cost(value: Decimal) -> str:
        return money(value, "en", currency)

    langs = ", ".join(f"{k} {v.recipients}" for k, v in sorted(preview.by_language.items()))
    click.echo(f"recipients: {preview.recipients}" + (f" ({langs})" if langs else ""))
    click.echo(f"encoding: {preview.encoding}, segments per message: {preview.segments}")
    for lang, line in sorted(preview.by_language.items()):
        click.echo(f"  {lang}: {line.encoding}, {line.segments} segment(s), "
                   f"{cost(line.cost)}")
    click.echo(f"estimated cost ({preview.provider}): {cost(preview.estimated_cost)} "
               f"(without fold {cost(preview.cost_without_fold)}, "
               f"with fold {cost(preview.cost_with_fold)})")


@broadcast.command("status")
@click.argument("broadcast_id", type=int)
@click.option("--watch", is_flag=True, help="Follow with a progress bar until done.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
def broadcast_status(broadcast_id: int, watch: bool, as_json: bool) -> None:
    """Show a broadcast's progress: queued, sent, delivered, failed by reason, cost."""
    currency = current_app.config["SETTINGS"].defaults.currency
    db = get_db()

    def read() -> broadcasts.Progress:
        with db.session() as session:
            try:
                return broadcasts.progress(session, broadcast_id)
            except LookupError as error:
                raise click.ClickException(str(error)) from None

    state = read()
    if watch:
        with click.progressbar(length=max(state.recipients, 1), label=f"broadcast {broadcast_id}",
                               file=sys.stderr) as bar:
            done = 0
            while True:
                bar.update(state.finished - done)
                done = state.finished
                if state.status in ("done", "expired", "cancelled"):
                    break
                time.sleep(1)
                state = read()
    if as_json:
        click.echo(json.dumps(state.as_dict(), ensure_ascii=False))
        return
    counts = state.counts
    click.echo(f"broadcast {broadcast_id}: {state.status}, {state.recipients} recipients")
    click.echo("  " + ", ".join(f"{s} {counts.get(s, 0)}" for s in
                                ("queued", "sending", "sent", "delivered", "failed", "expired")))
    for reason, n in sorted(state.failed_by_reason.items()):
        click.echo(f"  failed: {reason}: {n}")
    click.echo(f"  opted out: {state.opted_out}; cost so far: "
               f"{money(state.cost, 'en', currency)}")
    if state.status in ("queued", "sending", "scheduled"):
        with db.session() as session:
            row = session.get(Broadcast, broadcast_id)
            left = duration.remaining(session, current_app.config["SETTINGS"],
                                      row.cooperative_id, broadcast_id, urgent=row.urgent)
        done = state.finished * 100 // max(state.recipients, 1)
        click.echo(f"  progress: {done}% sent; still to send: {left.describe()}")


@click.command("segments")
@click.argument("text")
@click.option("--fold", is_flag=True, help="Measure the folded (GSM-7) form.")
def segments_command(text: str, fold: bool) -> None:
    """Print the encoding, network length and segments of TEXT as JSON."""
    click.echo(json.dumps(measure(fold_to_gsm7(text) if fold else text).as_dict(),
                          ensure_ascii=False))
