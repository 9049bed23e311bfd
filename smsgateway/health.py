"""``GET /healthz``: do the database and Redis answer, and which ones are in use."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from .db import get_db
from .redisconn import get_redis_handle

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 when the database and Redis both answer, 503 otherwise."""
    db = get_db()
    handle = get_redis_handle()
    database: dict[str, Any] = {"kind": db.kind, "backend": db.engine.dialect.name}
    redis_info: dict[str, Any] = {"kind": handle.kind}
    try:
        db.ping()
        database["ok"] = True
    except Exception as exc:  # any driver error means "down" here
        database.update(ok=False, error=type(exc).__name__)
    try:
        handle.ping()
        redis_info["ok"] = True
    except Exception as exc:
        redis_info.update(ok=False, error=type(exc).__name__)
    healthy = database["ok"] and redis_info["ok"]
    body = {"status": "ok" if healthy else "unavailable", "database": database,
            "redis": redis_info}
    return jsonify(body), 200 if healthy else 503
