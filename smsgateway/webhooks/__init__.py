"""Provider webhooks: ``/webhooks/<provider>/ussd|sms|delivery|status``.

Each route module has its own blueprint; :func:`register` attaches them to the app.
"""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Register the USSD, SMS, Android and HTTP channel webhooks, and their per-address limit."""
    from . import android, guards, http_channel, sms, ussd

    guards.init_app(app)
    app.register_blueprint(ussd.bp)
    app.register_blueprint(sms.bp)
    app.register_blueprint(android.bp)
    app.register_blueprint(http_channel.bp)
