"""The ``smsgateway`` command: Flask's CLI plus the gateway's own commands.

The commands of each area live in a module beside this one (broadcasts, members import, menus,
simulate). They are attached to ``app.cli`` by :func:`init_app`, so ``smsgateway``, ``flask``
and the test runner all see the same ones.
"""

from __future__ import annotations

import sys
import time

import click
import redis
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from .. import migrate
from ..config import SECRET_KEYS, load_settings
from ..db import get_db
from ..exceptions import ConfigError
from . import admin, catalog, resolutions
from . import broadcasts as broadcast_commands
from . import channels as channel_commands
from . import members as members_commands
from . import menus as menus_commands
from .simulate import simulate_command
from .smpp import smpp_command

#: Longest pause before a worker that lost Redis tries again.
WORKER_RESTART_MAX_WAIT = 15.0


def _create_app() -> Flask:
    from .. import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False,
             load_dotenv=False, set_debug_flag=False)
def cli() -> None:
    """SMS and USSD gateway for cooperatives."""


@click.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from ..services.routing import ensure_environment_channels

    database = get_db()
    migrate.upgrade(database, revision)
    if revision == "head":
        with database.session() as session:
            ensure_environment_channels(session, current_app.config["SETTINGS"])
    click.echo(f"database at {migrate.current_revision(database)} ({database.kind})")


@db.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION (``base`` for an empty database)."""
    migrate.downgrade(get_db(), revision)
    click.echo(f"database at {migrate.current_revision(get_db())}")


@db.command("current")
@with_appcontext
def db_current() -> None:
    """Print the database's revision and the newest one."""
    database = get_db()
    click.echo(f"current: {migrate.current_revision(database)}  head: "
               f"{migrate.head_revision(database)}")


@db.command("revision")
@click.option("-m", "--message", required=True)
@with_appcontext
def db_revision(message: str) -> None:
    """Autogenerate a migration from the models (developers)."""
    migrate.revision(get_db(), message)


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Create the demo cooperative, its products, members and a pending order."""
    from ..seed import DEMO_COORDINATOR, DEMO_PASSWORD, DEMO_PIN, seed_demo

    with get_db().session() as session:
        coop = seed_demo(session, current_app.config["SETTINGS"].defaults.region)
        click.echo(f"demo cooperative '{coop.slug}' ready: members +212600000001..4, PIN "
                   f"{DEMO_PIN}; dashboard login {DEMO_COORDINATOR} / {DEMO_PASSWORD}")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run queued jobs, then exit.")
@click.option("--with-scheduler/--without-scheduler", default=True,
              help="Also run RQ's scheduler for delayed and retried jobs.")
@click.option("--queue", "queues", multiple=True,
              help="Queues to serve, in priority order (default: all).")
@with_appcontext
def worker_command(burst: bool, with_scheduler: bool, queues: tuple[str, ...]) -> None:
    """Run an RQ worker for the gateway's queues."""
    from ..queues import PRIORITY
    from ..worker import make_worker

    app = current_app._get_current_object()
    wait = 1.0
    while True:
        try:
            worker = make_worker(app, queues or PRIORITY)
            worker.work(burst=burst, with_scheduler=with_scheduler, logging_level="INFO")
            return
        except redis.ConnectionError as error:
            # RQ's worker quits when Redis goes away between two jobs or under one (its own
            # bookkeeping raises): a worker of this process takes over once Redis answers.
            click.echo(f"worker: Redis unreachable ({error}); starting again in {wait:.0f} s",
                       err=True)
            time.sleep(wait)
            wait = min(wait * 2, WORKER_RESTART_MAX_WAIT)


@click.command("dev")
@click.option("--no-seed", is_flag=True, help="Do not seed demo data into an empty database.")
def dev_command(no_seed: bool) -> None:
    """Migrate, seed, then run the web server and a worker until Ctrl-C (``make run``)."""
    from ..devserver import run

    sys.exit(run(seed=not no_seed))


@click.command("check-config")
def check_config() -> None:
    """Validate the configuration and print it (secrets hidden)."""
    settings = load_settings()
    data = settings.model_dump(mode="json")
    # The one list of secrets (config.SECRET_KEYS), as dotted paths into the settings.
    for dotted in SECRET_KEYS:
        *sections, key = dotted.split(".")
        holder = data
        for section in sections:
            holder = holder.get(section) or {}
        if holder.get(key):
            holder[key] = "***"
    import json

    # What `auto` resolved to, as the README promises: the provider SMS really go through,
    # and why (the output stays one JSON document, for scripts).
    data["sms"]["provider_in_use"] = settings.sms_provider
    if settings.sms.provider == "auto":
        data["sms"]["provider_in_use_because"] = {
            "africastalking": "auto: Africa's Talking credentials are set",
            "twilio": "auto: Twilio credentials are set",
            "console": "auto: no provider credentials are set"}[settings.sms_provider]
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def init_app(app: Flask) -> None:
    """Attach the gateway's commands to the app's CLI."""
    for command in (db, seed_demo_command, worker_command, dev_command, check_config):
        app.cli.add_command(command)
    app.cli.add_command(menus_commands.menus_group)
    app.cli.add_command(simulate_command)
    app.cli.add_command(smpp_command)
    broadcast_commands.register(app)
    for group in (admin.coops_group, admin.users_group, catalog.products_group,
                  catalog.orders_group, members_commands.members_group,
                  members_commands.pins_group, resolutions.resolutions_group):
        app.cli.add_command(group)
    channel_commands.register(app)


def main() -> None:
    """Entry point: a configuration error is one line on stderr and exit status 2."""
    try:
        load_settings()
        cli.main(prog_name="smsgateway")
    except ConfigError as error:
        click.echo(str(error), err=True)
        sys.exit(2)
