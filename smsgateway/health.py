"""``GET /healthz`` (the process answers) and ``GET /readyz`` (it can do its work).

/healthz touches nothing but the process: a load balancer or systemd may call it every few
seconds. /readyz checks the database, Redis, how long replies have waited in their queues,
and the outbound channel, and answers 503 naming what is wrong.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from .db import get_db
from .metrics import queue_states
from .providers import default_provider_name, get_provider
from .queues import REPLIES, URGENT
from .redisconn import get_redis_handle

bp = Blueprint("health", __name__)

#: Queues whose wait makes the gateway "not ready": members are waiting for these messages.
LAG_QUEUES = (REPLIES, URGENT)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 while the process serves requests (no database or Redis call)."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """200 when the database, Redis, the queues and the channel are fine; 503 otherwise."""
    checks = {"database": _database(), "redis": _redis()}
    checks["queues"] = _queues() if checks["redis"]["ok"] else {
        "ok": False, "error": "redis unavailable"}
    checks["channels"] = _channels()
    ready = all(check["ok"] for check in checks.values())
    problems = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "ok" if ready else "unavailable", "problems": problems, **checks}
    return jsonify(body), 200 if ready else 503


def _database() -> dict[str, Any]:
    db = get_db()
    result: dict[str, Any] = {"kind": db.kind, "backend": db.engine.dialect.name}
    try:
        db.ping()
        result["ok"] = True
    except Exception as exc:  # any driver error means "down" here
        result.update(ok=False, error=type(exc).__name__)
    return result


def _redis() -> dict[str, Any]:
    handle = get_redis_handle()
    result: dict[str, Any] = {"kind": handle.kind}
    try:
        handle.ping()
        result["ok"] = True
    except Exception as exc:
        result.update(ok=False, error=type(exc).__name__)
    return result


def _queues() -> dict[str, Any]:
    limit = current_app.config["SETTINGS"].readiness.max_queue_lag_seconds
    try:
        states = queue_states(get_redis_handle().client)
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    result: dict[str, Any] = {"ok": True, "max_lag_seconds": limit}
    for state in states:
        lagging = state.name in LAG_QUEUES and state.oldest_age > limit
        result[state.name] = {"depth": state.depth, "oldest_age_seconds": round(state.oldest_age),
                              "lagging": lagging}
        if lagging:
            result["ok"] = False
    return result


def _channels() -> dict[str, Any]:
    # Building the adapter checks its credentials; no call to the provider from a probe.
    name = default_provider_name()
    try:
        get_provider(name)
    except Exception as exc:
        return {"ok": False, "sms": name, "error": str(exc)}
    return {"ok": True, "sms": name, "records": _channel_records()}


def _channel_records() -> list[dict[str, Any]] | str:
    # A phone that is down is the coordinators' news, not a reason to stop serving: shown
    # here, never counted against readiness.
    from sqlalchemy import select

    from .db import get_db
    from .models.channels import Channel

    try:
        with get_db().session() as session:
            return [{"id": c.id, "name": c.name, "kind": c.kind, "state": str(c.state),
                     "last_seen": c.last_seen.isoformat() if c.last_seen else None,
                     "health": {k: v for k, v in (c.health or {}).items()
                                if not isinstance(v, (dict, list))}}
                    for c in session.scalars(select(Channel).order_by(Channel.id))
                    if not c.from_environment]
    except Exception as exc:  # noqa: BLE001 - the database check reports the cause
        return type(exc).__name__
