"""smsgateway: an SMS and USSD gateway for cooperatives."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from . import channels, db, edge, logs, redisconn, smpp
from .config import load_settings

__all__ = ["create_app"]


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create and configure the gateway (the WSGI entry point is ``create_app()``)."""
    overrides = dict(test_config or {})
    instance_path = overrides.pop("instance_path", None) or os.environ.get(
        "SMSGATEWAY_INSTANCE_PATH"
    )
    testing = bool(overrides.pop("testing", False))
    settings = load_settings(overrides)

    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(
        SETTINGS=settings,
        TESTING=testing,
        SECRET_KEY=settings.secret_key or _instance_secret(app.instance_path),
        JSON_SORT_KEYS=False,
    )
    logs.init_app(app)  # first: Flask's own logger must find our handler

    db.init_app(app)
    redisconn.init_app(app)
    channels.init_app(app)
    smpp.init_app(app)

    from . import admin, cli, dashboard, health, metrics, simulator, webhooks
    from .simulator import phone_api

    app.register_blueprint(health.bp)
    webhooks.register(app)
    dashboard.init_app(app)
    app.register_blueprint(simulator.bp)
    app.register_blueprint(phone_api.bp)
    app.register_blueprint(admin.bp)
    metrics.init_app(app)
    cli.init_app(app)
    _register_error_handlers(app)
    edge.init_app(app)
    return app


def _instance_secret(instance_path: str) -> str:
    # Without SECRET_KEY, keep one random key in the instance folder so logins survive restarts.
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Any:
        # Short, plain answers; never Werkzeug's HTML page to a provider or a phone.
        body = {"error": error.name, "status": error.code}
        if request.accept_mimetypes.accept_html and not request.path.startswith("/webhooks"):
            return f"{error.code} {error.name}\n", error.code, {"Content-Type": "text/plain"}
        return jsonify(body), error.code

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Any:
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify({"error": "Internal Server Error", "status": 500}), 500
