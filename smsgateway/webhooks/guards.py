"""What every webhook checks before reading its form: the caller, and how often it calls."""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

import redis
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request

from ..redisconn import get_redis, run_script

log = logging.getLogger(__name__)

SOURCE_KEY = "smsgateway:limits:webhook-source:{address}:{minute}"
#: Addresses whose allowance this process keeps at once; past that, each call asks Redis.
MAX_LOCAL_SOURCES = 10_000

# KEYS: this minute's counter of the address; ARGV: how many calls to take. Returns the count.
_TAKE = """
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
if count == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], 120) end
return count
"""


def require_africastalking_secret(view: Callable[..., Any]) -> Callable[..., Any]:
    """403 unless the request carries ``?secret=`` equal to AFRICASTALKING_WEBHOOK_SECRET.

    Africa's Talking signs nothing, so a secret in the callback URL is what proves the caller.
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        expected = current_app.config["SETTINGS"].africastalking.webhook_secret
        if expected:
            given = request.args.get("secret", "")
            if not hmac.compare_digest(given.encode(), expected.encode()):
                abort(403)
        return view(*args, **kwargs)

    return wrapper


class SourceAllowance:
    """Calls per address per minute, shared by every process through one Redis counter.

    Asking Redis on every call would cost each webhook request a round trip, so a process
    takes its allowance in blocks of ``limit // 1000`` calls (one call for small limits) and
    spends them locally. Never more than ``limit`` calls a minute pass for one address, in
    all processes together; a block taken but not spent by the minute's end makes one
    process refuse at most ``block - 1`` calls (0.1% of the limit) early.
    """

    def __init__(self) -> None:
        self._minute = -1
        self._left: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, client: redis.Redis, address: str, limit: int,
             minute: int) -> tuple[bool, bool]:
        """(whether this call may pass, whether it is this process's first refusal)."""
        with self._lock:
            if minute != self._minute:
                self._minute, self._left = minute, {}
            left = self._left.get(address)
            if left:
                if left < 0:  # refused already this minute: no need to ask again
                    return False, False
                self._left[address] = left - 1
                return True, False
            keep = left is not None or len(self._left) < MAX_LOCAL_SOURCES
        # Without room to keep the rest of a block, take one call at a time.
        block = max(1, limit // 1000) if keep else 1
        key = SOURCE_KEY.format(address=address, minute=minute)
        count = int(run_script(client, _TAKE, (key,), (block,)))  # type: ignore[call-overload]
        granted = max(0, min(count, limit) - (count - block))
        if keep:
            with self._lock:
                if minute == self._minute:
                    # Another thread may have taken a block meanwhile: keep what both hold.
                    held = max(self._left.get(address, 0), 0)
                    self._left[address] = held + granted - 1 if granted else held or -1
        return granted > 0, not granted and (keep or count == limit + 1)


EXTENSION = "smsgateway.webhook_sources"


def init_app(app: Flask) -> None:
    """Give the app its per-process allowance of webhook calls per address."""
    app.extensions[EXTENSION] = SourceAllowance()


def limit_source() -> Response | None:
    """429 once one address passes ``limits.webhook_requests_per_minute`` this minute.

    Behind a proxy the address is the client's only with ``server.trusted_proxies`` set. A
    Redis that does not answer lets the request through (it is logged): the webhooks then
    answer as well as they can without it.
    """
    limit = current_app.config["SETTINGS"].limits.webhook_requests_per_minute
    if not limit:
        return None
    now = time.time()
    address = request.remote_addr or "unknown"
    allowance: SourceAllowance = current_app.extensions[EXTENSION]
    try:
        passed, first = allowance.take(get_redis(), address, limit, int(now // 60))
    except redis.RedisError as error:
        log.warning("webhook source limit not checked (Redis: %s)", type(error).__name__)
        return None
    if passed:
        return None
    if first:
        log.warning("webhook calls from %s over %d a minute: refused with 429", address, limit)
    response = jsonify({"error": "Too Many Requests", "status": 429})
    response.status_code = 429
    response.headers["Retry-After"] = str(60 - int(now) % 60)
    return response


def webhook_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint under ``/webhooks`` whose every request passes :func:`limit_source`."""
    bp = Blueprint(name, import_name, url_prefix="/webhooks")
    bp.before_request(limit_source)
    return bp
