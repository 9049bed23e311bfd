"""CLI for the operator: ``coops create|edit|list``, ``users create|list|reset-password|...``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from menus.languages import LANGUAGES

from ..models.coop import DEFAULT_TIMEZONE
from ..services import accounts, coops
from .common import actor, as_option, cooperative, region, transaction


@click.group("coops")
def coops_group() -> None:
    """Cooperatives: create them, change their settings, list them."""


def _coop_settings(func: object) -> object:
    for option in reversed([
        click.option("--region", default=None, help="Where it is (free text)."),
        click.option("--language", "default_language", default=None,
                     type=click.Choice(LANGUAGES), help="Members' default language."),
        click.option("--timezone", default=None, help=f"e.g. {DEFAULT_TIMEZONE}."),
        click.option("--ussd-code", default=None,
                     help="Its own service code (*384*77#) or an extension of the shared one "
                          "(770, dialled *384*123*770#); none: the shared code."),
        click.option("--sender", "sender_name", default=None,
                     help="SMS sender name (11 letters or digits at most)."),
    ]):
        func = option(func)  # type: ignore[operator]
    return func


@coops_group.command("create")
@click.option("--slug", required=True, help="Short name used in commands (argan-taroudant).")
@click.option("--name", required=True, help="Full name.")
@_coop_settings  # type: ignore[arg-type]
@as_option
@with_appcontext
def coops_create(slug: str, name: str, as_phone: str | None, **settings: str | None) -> None:
    """Create a cooperative."""
    with transaction() as session:
        values = {k: v for k, v in settings.items() if v is not None}
        coop = coops.create_cooperative(session, actor(session, as_phone), slug=slug,
                                        name=name, **values)
        click.echo(f"cooperative {coop.slug} created (id {coop.id})")


@coops_group.command("edit")
@click.argument("slug")
@click.option("--name", default=None)
@_coop_settings  # type: ignore[arg-type]
@as_option
@with_appcontext
def coops_edit(slug: str, name: str | None, as_phone: str | None,
               **settings: str | None) -> None:
    """Change a cooperative's settings (only those given)."""
    with transaction() as session:
        coop = coops.edit_cooperative(session, actor(session, as_phone), slug, name=name,
                                      **settings)
        click.echo(f"cooperative {coop.slug} saved")


@coops_group.command("list")
@as_option
@with_appcontext
def coops_list(as_phone: str | None) -> None:
    """The cooperatives, one a line."""
    with transaction() as session:
        for coop in coops.list_cooperatives(session, actor(session, as_phone)):
            click.echo(f"{coop.slug}\t{coop.name}\t{coop.default_language}\t{coop.timezone}\t"
                       f"ussd={coop.ussd_code or 'shared'}\tsender={coop.sender_name or '-'}")


@click.group("users")
def users_group() -> None:
    """Dashboard accounts: administrators and coordinators."""


def _password(prompt: bool) -> str | None:
    if not prompt:
        return None
    return click.prompt("password", hide_input=True, confirmation_prompt=True)


@users_group.command("create")
@click.option("--phone", required=True, help="Her phone: the sign-in login.")
@click.option("--name", default="")
@click.option("--role", type=click.Choice(["coordinator", "administrator"]),
              default="coordinator", show_default=True)
@click.option("--coop", "slug", default=None, help="A coordinator's cooperative.")
@click.option("--language", type=click.Choice(LANGUAGES), default="fr", show_default=True,
              help="The dashboard's language.")
@click.option("--prompt-password", is_flag=True,
              help="Type the password (else one is generated and printed once).")
@as_option
@with_appcontext
def users_create(phone: str, name: str, role: str, slug: str | None, language: str,
                 prompt_password: bool, as_phone: str | None) -> None:
    """Create an account; prints its one-time password unless you type one."""
    password = _password(prompt_password)
    generated = password is None
    password = password or accounts.generate_password()
    with transaction() as session:
        who = actor(session, as_phone)
        coop_id = cooperative(session, who, slug).id if slug else None
        account = accounts.create_account(session, who, phone=phone, name=name, role=role,
                                          password=password, region=region(),
                                          cooperative_id=coop_id, language=language)
        click.echo(f"account {account.phone} ({account.role}) created")
    if generated:
        # Printed to the operator's terminal once; never logged or stored in clear.
        click.echo(f"one-time password: {password}")


@users_group.command("list")
@as_option
@with_appcontext
def users_list(as_phone: str | None) -> None:
    """The accounts, one a line."""
    with transaction() as session:
        for account in accounts.list_accounts(session, actor(session, as_phone)):
            coop = account.cooperative.slug if account.cooperative else "*"
            state = "active" if account.active else "deactivated"
            click.echo(f"{account.phone}\t{account.role}\t{coop}\t{account.name}\t{state}")


@users_group.command("reset-password")
@click.argument("phone")
@click.option("--prompt-password", is_flag=True, help="Type the new password.")
@as_option
@with_appcontext
def users_reset(phone: str, prompt_password: bool, as_phone: str | None) -> None:
    """Give an account a new password (printed once unless typed)."""
    typed = _password(prompt_password)
    with transaction() as session:
        account, password = accounts.reset_password(session, actor(session, as_phone), phone,
                                                    region(), typed)
        click.echo(f"password of {account.phone} reset")
    if typed is None:
        click.echo(f"one-time password: {password}")


@users_group.command("deactivate")
@click.argument("phone")
@as_option
@with_appcontext
def users_deactivate(phone: str, as_phone: str | None) -> None:
    """Stop an account from signing in."""
    with transaction() as session:
        account = accounts.deactivate_account(session, actor(session, as_phone), phone,
                                              region())
        click.echo(f"account {account.phone} deactivated")
