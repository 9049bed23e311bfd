"""``smsgateway dev`` (what ``make run`` starts): up, healthy, seeded, and stopped by Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_dev_server_answers_healthz_and_stops_on_ctrl_c(
    app: object, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGATEWAY__")}
    env.update(PORT=str(port), SMSGATEWAY_CONFIG=str(ROOT / "config.yaml"),
               SMSGATEWAY_INSTANCE_PATH=str(tmp_path / "instance"))
    # The default run of the suite exercises the embedded defaults; the server run, the servers.
    if "postgresql" in database_url:
        env.update(DATABASE_URL=database_url, REDIS_URL=redis_url)
    else:
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "smsgateway.cli", "dev"], env=env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        body = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    body = json.load(r)
                    break
            except OSError:
                time.sleep(0.3)
        assert body is not None, "the web server never answered"
        assert body["status"] == "ok"
        expected = "server" if "postgresql" in database_url else "embedded"
        # /healthz only says the process answers; /readyz names what is in use.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as r:
            ready = json.load(r)
        assert ready["database"]["kind"] == expected and ready["redis"]["kind"] == expected
        # On loopback, `make run` is the one server with the simulator on and no password.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/simulator", timeout=30) as r:
            assert r.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)  # generous: CI machines can be loaded
    assert proc.returncode == 0, output
    assert "/simulator" in output and "argan-demo" in output
    assert "stopped." in output
    if expected == "embedded":
        assert (tmp_path / "instance" / "smsgateway.sqlite3").exists()
