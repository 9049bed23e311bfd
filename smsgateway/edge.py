"""The WSGI edge: the body size limit for every body, the client's address behind proxies,
cookies, and the answer while the database or Redis is down.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from typing import Any

import redis
from flask import Flask, jsonify, request
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

log = logging.getLogger(__name__)

#: No provider sends a webhook anywhere near this; a larger body is refused with 413.
MAX_CONTENT_LENGTH = 64 * 1024
#: Seconds a provider (or a browser) is asked to wait while a backend is down.
RETRY_AFTER = "5"


class BodyLimit:
    """413 for a body over ``limit`` bytes, however it is sent.

    Werkzeug checks ``Content-Length``, but a chunked body has none, and a server that
    de-chunks it (gunicorn sets ``wsgi.input_terminated``) hands it over unbounded. Such a
    body is read here up to the limit, and the app sees it with its length.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """Buffer a body of unknown length (at most ``limit`` bytes) before the app runs."""
        if environ.get("CONTENT_LENGTH") or not _has_body(environ):
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(self.limit + 1)
        if len(body) > self.limit:
            response = Response('{"error": "Request Entity Too Large", "status": 413}\n',
                                status=413, mimetype="application/json",
                                headers={"Connection": "close"})
            return response(environ, start_response)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("wsgi.input_terminated", None)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)


def _has_body(environ: dict[str, Any]) -> bool:
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    return chunked or bool(environ.get("wsgi.input_terminated"))


def init_app(app: Flask) -> None:
    """Wrap the app for the size limit and proxies, set cookie flags, answer 503 when down."""
    settings = app.config["SETTINGS"]
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
        MAX_FORM_MEMORY_SIZE=MAX_CONTENT_LENGTH,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.server.secure_cookies,
    )
    proxies = settings.server.trusted_proxies
    if proxies:
        # Only the last `proxies` hops of X-Forwarded-For are ours; anything before is the
        # client's say-so.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies,  # type: ignore[method-assign]
                                x_host=proxies, x_port=proxies, x_prefix=proxies)
    app.wsgi_app = BodyLimit(app.wsgi_app, MAX_CONTENT_LENGTH)  # type: ignore[method-assign]
    # A database that refuses connections or went away raises OperationalError (psycopg and
    # sqlite3 alike); a full pool, TimeoutError; a Redis that does not answer, its own two.
    for error in (OperationalError, PoolTimeout, redis.ConnectionError, redis.TimeoutError):
        app.register_error_handler(error, _unavailable)


def _unavailable(error: Exception) -> Any:
    # One line, no traceback: the cause is outside the app, and the caller retries.
    log.error("503 on %s %s: %s unavailable (%s)", request.method, request.path,
              "Redis" if isinstance(error, redis.RedisError) else "database",
              type(error).__name__)
    return (jsonify({"error": "Service Unavailable", "status": 503}), 503,
            {"Retry-After": RETRY_AFTER})

