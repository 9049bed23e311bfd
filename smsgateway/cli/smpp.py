"""``smsgateway smpp``: the link processes of the SMPP channels (the ``smpp:`` Procfile line).

One link per channel, each with its own connection: ``--channel NAME`` serves one (a
Procfile line per channel, so one can be restarted alone); without it every SMPP channel is
served, a thread each. With no SMPP channel it waits quietly, so a Procfile line costs an
installation without an operator contract nothing.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click
from flask import current_app
from flask.cli import with_appcontext

from ..db import get_db
from ..links import smpp_channels
from ..redisconn import get_redis
from ..smpp.link import Link


@click.command("smpp")
@click.option("--channel", "name", default=None, help="Serve this SMPP channel only.")
@with_appcontext
def smpp_command(name: str | None) -> None:
    """Own the SMPP connections until SIGTERM or Ctrl-C."""
    known = smpp_channels()
    if name is not None and name not in known:
        raise click.UsageError(f"no SMPP channel named {name!r} "
                               f"(there are: {', '.join(sorted(known)) or 'none'})")
    chosen = [known[name]] if name is not None else list(known.values())
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if not chosen:
        click.echo("smpp: no SMPP channel is configured; waiting")
        stop.wait()
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    threads = []
    for config in chosen:
        link = Link(config, app.config["SETTINGS"], get_redis(), get_db())
        click.echo(f"smpp {config.name}: {config.host}:{config.port} as {config.system_id}, "
                   f"window {config.window}, {config.throughput:g}/s")

        def serve(link: Link = link) -> None:
            with app.app_context():
                link.run(stop)

        thread = threading.Thread(target=serve, name=f"smpp-{config.name}")
        thread.start()
        threads.append(thread)
    while any(t.is_alive() for t in threads):
        for thread in threads:
            thread.join(0.5)
