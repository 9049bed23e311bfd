"""A real gateway for end-to-end tests: gunicorn and an RQ worker on the test database and Redis."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# The flags this machine's Chromium needs: no sandbox as root, and no background traffic to
# hosts the closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
STARTUP_SECONDS = 60


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveGateway:
    """A running gateway: its URL and the environment its processes share."""

    url: str
    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def output(self) -> str:
        """What the web server and the worker printed (for failure messages)."""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
                         for p in sorted(self.logs.glob("*.log")))


def _wait_healthy(gateway: LiveGateway) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    web = gateway.processes["web"]
    while time.monotonic() < deadline and web.poll() is None:
        try:
            with urllib.request.urlopen(f"{gateway.url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the gateway never answered /healthz\n{gateway.output()}")


@pytest.fixture
def live_gateway(
    demo: Any, database_url: str, redis_url: str, tmp_path: Path
) -> Iterator[Callable[..., LiveGateway]]:
    """Start gunicorn and a worker on the seeded test database; extra env as kwargs."""
    started: list[LiveGateway] = []

    def _start(**extra_env: str) -> LiveGateway:
        port = free_port()
        logs = tmp_path / f"gateway-{port}"
        logs.mkdir()
        env = dict(os.environ)
        env.update(
            DATABASE_URL=database_url, REDIS_URL=redis_url, SECRET_KEY="live-test-secret",
            SMSGATEWAY_CONFIG=str(ROOT / "config.yaml"),
            SMSGATEWAY_INSTANCE_PATH=str(tmp_path / "live-instance"),
            WEB_CONCURRENCY="1", WEB_THREADS="4", PYTHONUNBUFFERED="1",
            SMSGATEWAY__SIMULATOR__ENABLED="true",  # as `smsgateway dev` on loopback
        )
        env.update(extra_env)
        gateway = LiveGateway(f"http://127.0.0.1:{port}", env, logs)
        started.append(gateway)
        commands = {
            "web": [sys.executable, "-m", "gunicorn", "smsgateway:create_app()",
                    "-c", "python:smsgateway.gunicorn_conf", "--bind", f"127.0.0.1:{port}"],
            "worker": [sys.executable, "-m", "smsgateway.cli", "worker",
                       "--without-scheduler"],
        }
        for name, command in commands.items():
            with open(logs / f"{name}.log", "wb") as log:
                gateway.processes[name] = subprocess.Popen(
                    command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True)
        _wait_healthy(gateway)
        return gateway

    yield _start
    for gateway in started:
        for process in gateway.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in gateway.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def chromium_page() -> Iterator[Any]:
    """A page in Debian's headless Chromium, driven by Playwright, with a fresh profile."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it as root "
                    "(apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    # Bounds, not speed checks: a 2-core CI machine running the suite can be slow to answer.
    expect.set_options(timeout=15_000)

    profile = tempfile.mkdtemp(prefix="smsgateway-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 760}, locale="fr-FR",
            )
            try:
                yield context.pages[0] if context.pages else context.new_page()
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
