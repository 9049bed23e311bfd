"""``make run``: migrate, seed, then run gunicorn and a worker side by side until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from types import FrameType

import click
from flask import Flask
from sqlalchemy import select

from . import create_app, migrate
from .config import is_loopback
from .db import get_db
from .links import smpp_channels
from .models.channels import Channel
from .redisconn import get_redis_handle
from .services.routing import ensure_environment_channels

STOP_TIMEOUT = 10.0
SIMULATOR_ENV = "SMSGATEWAY__SIMULATOR__ENABLED"


def run(seed: bool = True) -> int:
    """Run the gateway in the foreground; return the exit status."""
    app = create_app()
    settings = app.config["SETTINGS"]
    database = get_db(app)
    migrate.upgrade(database)
    seeded = False
    if seed:
        from .seed import database_is_empty, seed_demo

        with database.session() as session:
            if database_is_empty(session):
                seed_demo(session, settings.defaults.region)
                seeded = True
    with app.app_context(), database.session() as session:
        ensure_environment_channels(session, settings)
    # This process holds the embedded Redis (when REDIS_URL is unset) for the children's life.
    redis_handle = get_redis_handle(app)
    redis_handle.ping()

    host, port = settings.server.host, settings.server.port
    env = dict(os.environ, SMSGATEWAY_INSTANCE_PATH=app.instance_path)
    simulator = settings.simulator.enabled
    if is_loopback(host) and SIMULATOR_ENV not in os.environ:
        # On loopback only this machine can open it: the one place it may go without password.
        env[SIMULATOR_ENV], simulator = "true", True
    phone_channel = _demo_phone(app, host, port, simulator)
    web_cmd = [
        sys.executable, "-m", "gunicorn", "smsgateway:create_app()",
        "-c", "python:smsgateway.gunicorn_conf", "--bind", f"{host}:{port}",
    ]
    worker_cmd = [sys.executable, "-m", "smsgateway.cli", "worker"]
    # Children get their own process group: Ctrl-C reaches only us, and we stop them in order.
    children = {
        "web": subprocess.Popen(web_cmd, env=env, start_new_session=True),
        "worker": subprocess.Popen(worker_cmd, env=env, start_new_session=True),
    }
    with app.app_context():
        if smpp_channels():
            # The SMPP links only when an operator's link is configured.
            children["smpp"] = subprocess.Popen(
                [sys.executable, "-m", "smsgateway.cli", "smpp"], env=env,
                start_new_session=True)
    stopping = False

    def _stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)

    base = f"http://{host}:{port}"
    if _wait_until_up(f"{base}/healthz", children["web"]):
        _banner(base, database.kind, redis_handle.kind, seeded, simulator, phone_channel)
    status = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                click.echo(f"{name} exited with status {child.returncode}; stopping", err=True)
                stopping, status = True, 1
        time.sleep(0.2)
    click.echo(f"stopping {', '.join(children)}...")
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    click.echo("stopped.")
    return status


def _demo_phone(app: Flask, host: str, port: int, simulator: bool) -> int | None:
    """The demo cooperative's simulated Android phone: made (or kept) while the simulator is
    on, disabled while it is off (nothing would answer its sends); its id, None when off."""
    from .models import Cooperative
    from .seed import DEMO_SLUG
    from .simulator import android

    with get_db(app).session() as session:
        coop_id = session.scalar(select(Cooperative.id).where(Cooperative.slug == DEMO_SLUG))
        made = session.scalar(select(Channel.id).where(
            Channel.name == android.SIMULATED_NAME)) is not None
    if coop_id is None or not (simulator or made):
        return None
    # The worker sends from this machine: a wildcard address is reached on loopback.
    reach = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in reach:
        reach = f"[{reach.strip('[]')}]"
    channel_id = android.ensure_phone_channel(app, coop_id, f"http://{reach}:{port}",
                                              active=simulator)
    return channel_id if simulator else None


def _wait_until_up(url: str, web: subprocess.Popen[bytes], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and web.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200
        except OSError:
            time.sleep(0.2)
    return False


def _banner(base: str, db_kind: str, redis_kind: str, seeded: bool, simulator: bool,
            phone_channel: int | None) -> None:
    from .seed import DEMO_COORDINATOR, DEMO_PASSWORD, DEMO_PIN

    lines = [
        "",
        "smsgateway is running (Ctrl-C to stop)",
        f"  dashboard   {base}/dashboard   login {DEMO_COORDINATOR} / {DEMO_PASSWORD}",
        f"  simulator   {base}/simulator   demo members +212600000001..4, PIN {DEMO_PIN}"
        if simulator else "  simulator   off",
        *([f"  android     channel {phone_channel}: the demo cooperative's phone, played by "
           "the simulator"] if phone_channel else []),
        f"  health      {base}/healthz",
        f"  database: {db_kind}, redis: {redis_kind}"
        + (", demo data seeded" if seeded else ""),
        "",
    ]
    click.echo("\n".join(lines))
