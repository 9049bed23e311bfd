"""The real server: what the Procfile starts is safe; the size limit holds for chunked bodies."""

from __future__ import annotations

import http.client
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
USSD = "/webhooks/africastalking/ussd"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _web_command() -> list[str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    web = dict(line.split(": ", 1) for line in lines if line.strip())["web"]
    argv = shlex.split(web)
    return [str(Path(sys.executable).parent / argv[0]), *argv[1:]]


class Server:
    """A gunicorn started as the Procfile says, on a port of its own."""

    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port

    def get(self, path: str, headers: dict[str, str] | None = None) -> int:
        """The status of GET ``path``."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                         headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def wait_until_up(self) -> None:
        """Return once /healthz answers; fail with the server's output if it exits first."""
        deadline = time.monotonic() + 90  # generous: a loaded 2-core machine
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if self.get("/healthz") == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"the server never answered: {self.output()}")

    def output(self) -> str:
        """Everything it printed (stops it first)."""
        self.stop()
        assert self.process.stdout is not None
        return self.process.stdout.read()

    def stop(self) -> None:
        """SIGTERM, then wait."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def procfile_web(app: Any, database_url: str, redis_url: str,
                 tmp_path: Path) -> Iterator[Any]:
    """Start the Procfile's web process with PORT set, as a host does; extra env as kwargs."""
    servers: list[Server] = []

    def _start(bind: str | None = None, **extra_env: str) -> Server:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGATEWAY__")}
        env.update(PORT=str(port), DATABASE_URL=database_url, REDIS_URL=redis_url,
                   SECRET_KEY="procfile-test", SMSGATEWAY_CONFIG=str(ROOT / "config.yaml"),
                   SMSGATEWAY_INSTANCE_PATH=str(tmp_path / "instance"), WEB_CONCURRENCY="1",
                   WEB_THREADS="2", **extra_env)
        command = _web_command() + (["--bind", bind.format(port=port)] if bind else [])
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True)
        server = Server(process, port)
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.stop()


@pytest.mark.slow
def test_the_procfile_serves_no_simulator(procfile_web: Any) -> None:
    server = procfile_web()
    server.wait_until_up()
    assert server.get("/simulator") == 404
    assert server.get("/simulator/api/config") == 404


@pytest.mark.slow
def test_a_simulator_without_password_beyond_loopback_stops_start_up(procfile_web: Any) -> None:
    server = procfile_web(SMSGATEWAY__SIMULATOR__ENABLED="true")
    assert server.process.wait(timeout=90) != 0
    assert "SIMULATOR_PASSWORD" in server.output()


@pytest.mark.slow
def test_a_simulator_turned_on_with_a_password_asks_for_it(procfile_web: Any) -> None:
    server = procfile_web(SMSGATEWAY__SIMULATOR__ENABLED="true", SIMULATOR_PASSWORD="pw-123")
    server.wait_until_up()
    assert server.get("/simulator") == 401


def _post_chunked(port: int, path: str, body: bytes, chunk: int = 16 * 1024) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.putrequest("POST", path)
        connection.putheader("Content-Type", "application/x-www-form-urlencoded")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        try:
            for start in range(0, len(body), chunk):
                part = body[start:start + chunk]
                connection.send(b"%x\r\n%s\r\n" % (len(part), part))
            connection.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before the whole body is sent
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.slow
def test_the_size_limit_holds_for_chunked_bodies(procfile_web: Any, demo: Any) -> None:
    server = procfile_web(bind="127.0.0.1:{port}")
    server.wait_until_up()
    small = b"sessionId=chunk1&phoneNumber=%2B212600000004&serviceCode=%2A384%2A123%23&text="
    assert _post_chunked(server.port, USSD, small, chunk=7) == 200
    huge = small + b"&pad=" + b"x" * (3 * 1024 * 1024)
    assert _post_chunked(server.port, USSD, huge) == 413
    many_fields = b"&".join(b"f%d=%s" % (i, b"y" * 1000) for i in range(3000))
    assert _post_chunked(server.port, USSD, small + b"&" + many_fields) == 413
