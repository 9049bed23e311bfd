"""What every webhook checks before reading its form: the caller, and how often it calls."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

import redis
from flask import Blueprint, Response, abort, current_app, jsonify, request

from ..redisconn import get_redis

log = logging.getLogger(__name__)

SOURCE_KEY = "smsgateway:limits:webhook-source:{address}:{minute}"


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


def limit_source() -> Response | None:
    """429 once one address passes ``limits.webhook_requests_per_minute`` this minute.

    Behind a proxy the address is the client's only with ``server.trusted_proxies`` set. A
    Redis that does not answer lets the request through (it is logged): the webhooks then
    answer as well as they can without it.
    """
    limit = current_app.config["SETTINGS"].limits.webhook_requests_per_minute
    if not limit:
        return None
    minute = int(time.time() // 60)
    key = SOURCE_KEY.format(address=request.remote_addr or "unknown", minute=minute)
    try:
        pipe = get_redis().pipeline(transaction=True)  # MULTI: INCR and EXPIRE together
        pipe.incr(key)
        pipe.expire(key, 120)
        count = int(pipe.execute()[0])
    except redis.RedisError as error:
        log.warning("webhook source limit not checked (Redis: %s)", type(error).__name__)
        return None
    if count <= limit:
        return None
    if count == limit + 1:
        log.warning("webhook calls from %s over %d a minute: refused with 429",
                    request.remote_addr, limit)
    response = jsonify({"error": "Too Many Requests", "status": 429})
    response.status_code = 429
    response.headers["Retry-After"] = str(60 - int(time.time()) % 60)
    return response


def webhook_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint under ``/webhooks`` whose every request passes :func:`limit_source`."""
    bp = Blueprint(name, import_name, url_prefix="/webhooks")
    bp.before_request(limit_source)
    return bp
