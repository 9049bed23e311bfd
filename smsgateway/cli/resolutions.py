"""CLI for coordinators: ``resolutions create|edit|close|list|results``."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from .. import outbox
from ..db import utcnow
from ..models import Resolution
from ..redisconn import get_redis
from ..services import resolutions
from .common import (
    actor,
    as_option,
    coop_option,
    cooperative,
    language_options,
    local,
    per_language,
    transaction,
    when,
)


def _choices(values: dict[str, Any]) -> dict[str, list[str]]:
    return {lang: [c for c in text.split(",")] for lang, text in
            per_language("choices", values).items()}


@click.group("resolutions")
def resolutions_group() -> None:
    """Resolutions for a general assembly: members vote by USSD and SMS."""


@resolutions_group.command("create")
@coop_option
@language_options("question", "The question")
@language_options("choices", "The choices, comma-separated, same order in every language")
@click.option("--opens", default=None, help="When voting opens (default now): 2026-06-01 08:00.")
@click.option("--closes", required=True, help="When voting closes: 2026-06-30 18:00.")
@click.option("--voters", "groups", multiple=True,
              help="Only members of this group may vote (repeat; default: every member).")
@click.option("--quorum", type=int, default=0, show_default=True,
              help="Turnout needed, in percent of those who may vote.")
@as_option
@with_appcontext
def resolutions_create(slug: str, opens: str | None, closes: str, groups: tuple[str, ...],
                       quorum: int, as_phone: str | None, **texts: Any) -> None:
    """Put a question to the members."""
    with transaction() as session:
        who = actor(session, as_phone)
        coop = cooperative(session, who, slug)
        closes_at = when(closes, coop.timezone, "closes")
        assert closes_at is not None
        resolution = resolutions.create_resolution(
            session, who, coop, titles=per_language("question", texts),
            choices=_choices(texts), opens_at=when(opens, coop.timezone, "opens"),
            closes_at=closes_at, voter_groups=list(groups), quorum_percent=quorum)
        click.echo(f"resolution {resolution.id}: voting from "
                   f"{local(resolution.opens_at, coop.timezone)} to "
                   f"{local(resolution.closes_at, coop.timezone)}")


@resolutions_group.command("edit")
@click.argument("resolution_id", type=int)
@language_options("question", "The question")
@language_options("choices", "The choices, comma-separated")
@click.option("--opens", default=None)
@click.option("--closes", default=None)
@click.option("--voters", "groups", multiple=True)
@click.option("--quorum", type=int, default=None)
@as_option
@with_appcontext
def resolutions_edit(resolution_id: int, opens: str | None, closes: str | None,
                     groups: tuple[str, ...], quorum: int | None, as_phone: str | None,
                     **texts: Any) -> None:
    """Change a resolution (once a vote is cast, only --closes)."""
    with transaction() as session:
        who = actor(session, as_phone)
        resolution = resolutions.find_resolution(session, who, resolution_id)
        zone = resolution.cooperative.timezone
        resolutions.edit_resolution(
            session, who, resolution, titles=per_language("question", texts) or None,
            choices=_choices(texts) or None, opens_at=when(opens, zone, "opens"),
            closes_at=when(closes, zone, "closes"), voter_groups=list(groups) or None,
            quorum_percent=quorum)
        click.echo(f"resolution {resolution.id} saved")


@resolutions_group.command("close")
@click.argument("resolution_id", type=int)
@as_option
@with_appcontext
def resolutions_close(resolution_id: int, as_phone: str | None) -> None:
    """Close the vote now and send the results to the members by SMS."""
    with transaction() as session:
        who = actor(session, as_phone)
        resolution = resolutions.find_resolution(session, who, resolution_id)
        resolutions.close_resolution(session, who, resolution)
        messages = resolutions.send_results(session, resolution)
        outbox.commit_and_send(session, messages, get_redis())
        _print(session, resolution)
        click.echo(f"results sent to {len(messages)} members")


@resolutions_group.command("results")
@click.argument("resolution_id", type=int)
@as_option
@with_appcontext
def resolutions_results(resolution_id: int, as_phone: str | None) -> None:
    """The count so far (or final), turnout and quorum."""
    with transaction() as session:
        resolution = resolutions.find_resolution(session, actor(session, as_phone),
                                                 resolution_id)
        _print(session, resolution)


def _print(session: Any, resolution: Resolution) -> None:
    found = resolutions.results(session, resolution)
    state = "closed" if resolution.closes_at <= utcnow() else "open"
    click.echo(f"{resolution.titles['fr']} ({state})")
    click.echo(f"  {resolutions.result_line(resolution, found, 'fr')}")
    click.echo(f"  turnout {found.turnout_percent}% ({found.voted}/{found.eligible}), quorum "
               f"{resolution.quorum_percent}%: {'met' if found.quorum_met else 'not met'}")


@resolutions_group.command("list")
@coop_option
@as_option
@with_appcontext
def resolutions_list(slug: str, as_phone: str | None) -> None:
    """The cooperative's resolutions."""
    with transaction() as session:
        who = actor(session, as_phone)
        coop = cooperative(session, who, slug)
        now = utcnow()
        for r in session.scalars(select(Resolution).where(Resolution.cooperative_id == coop.id)
                                 .order_by(Resolution.id)):
            state = ("closed" if r.closes_at <= now else
                     "open" if r.opens_at <= now else "not yet open")
            click.echo(f"{r.id}\t{state}\tcloses {local(r.closes_at, coop.timezone)}\t"
                       f"{r.titles['fr']}")
