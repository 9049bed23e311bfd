"""``smsgateway smpp``: the link process of one SMPP channel (a ``smpp:`` Procfile line)."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click
from flask import current_app
from flask.cli import with_appcontext

from ..db import get_db
from ..redisconn import get_redis
from ..smpp.channels import channels
from ..smpp.link import Link


@click.command("smpp")
@click.option("--channel", "name", default=None,
              help="The SMPP channel to serve (needed when there are several).")
@with_appcontext
def smpp_command(name: str | None) -> None:
    """Own the SMPP connection of a channel until SIGTERM or Ctrl-C."""
    known = channels()
    if name is None:
        if len(known) != 1:
            raise click.UsageError(
                f"--channel is needed: SMPP channels are {', '.join(sorted(known)) or 'none'}")
        name = next(iter(known))
    if name not in known:
        raise click.UsageError(f"no SMPP channel named {name!r}")
    config = known[name]
    link = Link(config, current_app.config["SETTINGS"], get_redis(), get_db())
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"smpp {name}: {config.host}:{config.port} as {config.system_id}, "
               f"window {config.window}, {config.throughput:g}/s")
    link.run(stop)
