"""CLI for coordinators: ``members add|edit|deactivate|groups|import|export``, ``pins ...``."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from menus.languages import LANGUAGES

from .. import outbox
from ..dashboard.i18n import phrase
from ..db import utcnow
from ..models import Member, OutboundMessage, PhoneCredential
from ..redisconn import get_redis
from ..services import coops, pin_codes
from ..services import members as member_service
from .common import actor, as_option, coop_option, cooperative, region, transaction
from .members_import import csv_rows, import_members


@click.group("members")
def members_group() -> None:
    """Members of a cooperative."""


@members_group.command("add")
@coop_option
@click.option("--phone", required=True)
@click.option("--name", default="")
@click.option("--language", type=click.Choice(LANGUAGES), default=None,
              help="Default: the cooperative's.")
@click.option("--role", type=click.Choice(["member", "coordinator"]), default="member")
@click.option("--group", "groups", multiple=True, help="A group (repeat for several).")
@click.option("--issue-code", is_flag=True, help="Send her a one-time code to choose a PIN.")
@as_option
@with_appcontext
def members_add(slug: str, phone: str, name: str, language: str | None, role: str,
                groups: tuple[str, ...], issue_code: bool, as_phone: str | None) -> None:
    """Add a member."""
    with transaction() as session:
        who = actor(session, as_phone)
        coop = cooperative(session, who, slug)
        member = member_service.register_member(session, who, coop, phone, name=name,
                                                language=language, role=role, groups=groups,
                                                region=region())
        messages = [_code(session, who, member)] if issue_code else []
        outbox.commit_and_send(session, messages, get_redis())
        click.echo(f"member {member.phone} added to {coop.slug}"
                   + (" (code sent by SMS)" if messages else ""))


def _member(session: object, who: object, slug: str, phone: str) -> Member:
    """The member with ``phone`` in the cooperative ``slug``, when ``who`` may manage it."""
    return member_service.find_member(session, who, cooperative(session, who, slug), phone,
                                      region())


def _code(session: object, who: object, member: Member, reset: bool = False) -> OutboundMessage:
    ussd = current_app.config["SETTINGS"].ussd
    return pin_codes.issue_code(session, who, member, hours=ussd.pin_code_hours,  # type: ignore[arg-type]
                                service_code=coops.dial_code(member.cooperative,
                                                             ussd.service_code), reset=reset)


@members_group.command("edit")
@coop_option
@click.argument("phone")
@click.option("--name", default=None)
@click.option("--language", type=click.Choice(LANGUAGES), default=None)
@click.option("--role", type=click.Choice(["member", "coordinator"]), default=None)
@click.option("--active/--inactive", default=None)
@as_option
@with_appcontext
def members_edit(slug: str, phone: str, name: str | None, language: str | None,
                 role: str | None, active: bool | None, as_phone: str | None) -> None:
    """Change a member's name, language, role or whether she is active."""
    with transaction() as session:
        who = actor(session, as_phone)
        member = _member(session, who, slug, phone)
        member_service.edit_member(session, who, member, name=name, language=language,
                                   role=role, active=active)
        click.echo(f"member {member.phone} saved")


@members_group.command("deactivate")
@coop_option
@click.argument("phone")
@as_option
@with_appcontext
def members_deactivate(slug: str, phone: str, as_phone: str | None) -> None:
    """Deactivate a member (her history stays; she no longer reaches the menus)."""
    with transaction() as session:
        who = actor(session, as_phone)
        member = _member(session, who, slug, phone)
        member_service.edit_member(session, who, member, active=False)
        click.echo(f"member {member.phone} deactivated")


@members_group.command("groups")
@coop_option
@click.argument("phone")
@click.option("--add", "adding", multiple=True, help="A group to put her in.")
@click.option("--remove", "removing", multiple=True, help="A group to take her out of.")
@as_option
@with_appcontext
def members_groups(slug: str, phone: str, adding: tuple[str, ...], removing: tuple[str, ...],
                   as_phone: str | None) -> None:
    """Put a member in groups or take her out; prints her groups."""
    with transaction() as session:
        who = actor(session, as_phone)
        member = _member(session, who, slug, phone)
        member_service.set_groups(session, who, member, add=adding, remove=removing)
        click.echo(f"{member.phone}: {', '.join(sorted(g.name for g in member.groups)) or '-'}")


@members_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@coop_option
@click.option("--issue-codes", is_flag=True,
              help="Then send a one-time code to every member without a PIN or a code.")
@as_option
@with_appcontext
def members_import(file: Path, slug: str, issue_codes: bool, as_phone: str | None) -> None:
    """Import members from a CSV file: phone,name,language,role,groups (groups split by ;)."""
    with transaction() as session:
        who = actor(session, as_phone)
        coop = cooperative(session, who, slug)
        with file.open(newline="", encoding="utf-8-sig") as handle:
            total = sum(1 for _ in handle) - 1
            handle.seek(0)
            with click.progressbar(length=max(total, 0), label="importing",
                                   file=sys.stderr) as bar:
                report = import_members(session, coop, csv_rows(handle), region(),
                                        progress=bar.update)
        member_service.record(session, who, "member.import", "cooperative", coop.id, coop.id,
                              added=report.added, updated=report.updated,
                              rejected=len(report.errors))
        sent = _codes_for_all(session, who, coop.id) if issue_codes else 0
    # The operator's shell reads English; the dashboard says the same in her language.
    for line, reason in report.errors:
        click.echo(f"line {line}: {phrase(reason, 'en')}", err=True)
    for line, warning in report.warnings:
        click.echo(f"line {line}: warning: {phrase(warning, 'en')}", err=True)
    warned = len(report.warnings)
    click.echo(f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
               f"{len(report.errors)} rejected"
               + (f", {warned} warning{'s' if warned > 1 else ''}" if warned else "")
               + (f"; {sent} codes sent" if issue_codes else ""))


def _codes_for_all(session: object, who: object, coop_id: int) -> int:
    """A code for each active member of the cooperative with neither a PIN nor a usable code."""
    now = utcnow()
    known = {c.phone: c for c in session.scalars(  # type: ignore[attr-defined]
        select(PhoneCredential).join(Member, Member.phone == PhoneCredential.phone)
        .where(Member.cooperative_id == coop_id))}
    waiting = [m for m in session.scalars(select(Member).where(  # type: ignore[attr-defined]
        Member.cooperative_id == coop_id, Member.active.is_(True)).order_by(Member.id))
        if m.phone not in known or not (known[m.phone].pin_hash or known[m.phone].code_usable(now))]
    messages = [_code(session, who, member) for member in waiting]
    outbox.commit_and_send(session, messages, get_redis())  # type: ignore[arg-type]
    return len(messages)


@members_group.command("export")
@coop_option
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The CSV file (default: standard output).")
@as_option
@with_appcontext
def members_export(slug: str, output: Path | None, as_phone: str | None) -> None:
    """Export the members as CSV (the import's columns; never a PIN or a code)."""
    with transaction() as session:
        who = actor(session, as_phone)
        rows = member_service.export_rows(session, who, cooperative(session, who, slug))
        handle = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
        try:
            writer = csv.DictWriter(handle, fieldnames=member_service.CSV_COLUMNS)
            writer.writeheader()
            count = 0
            for row in rows:
                writer.writerow(row)
                count += 1
        finally:
            if output:
                handle.close()
    if output:
        click.echo(f"{count} members written to {output}")


@click.group("pins")
def pins_group() -> None:
    """Members' PINs: send a one-time code to choose one, reset after a lockout."""


@pins_group.command("issue")
@coop_option
@click.argument("phones", nargs=-1)
@click.option("--all-without-pin", is_flag=True, help="Every member with no PIN nor code.")
@as_option
@with_appcontext
def pins_issue(slug: str, phones: tuple[str, ...], all_without_pin: bool,
               as_phone: str | None) -> None:
    """Send one-time codes by SMS (the codes are shown to nobody else)."""
    with transaction() as session:
        who = actor(session, as_phone)
        coop = cooperative(session, who, slug)
        if all_without_pin:
            click.echo(f"{_codes_for_all(session, who, coop.id)} codes sent")
            return
        members = [member_service.find_member(session, who, coop, p, region()) for p in phones]
        messages = [_code(session, who, m) for m in members]
        outbox.commit_and_send(session, messages, get_redis())
        for member in members:
            click.echo(f"code sent to {member.phone}")


@pins_group.command("reset")
@coop_option
@click.argument("phone")
@as_option
@with_appcontext
def pins_reset(slug: str, phone: str, as_phone: str | None) -> None:
    """Forget a member's PIN and lockout; send her a new code to choose another."""
    with transaction() as session:
        who = actor(session, as_phone)
        member = _member(session, who, slug, phone)
        message = _code(session, who, member, reset=True)
        outbox.commit_and_send(session, [message], get_redis())
        pin_codes.clear_lockout(get_redis(), member)
        click.echo(f"PIN of {member.phone} reset; new code sent by SMS")
