"""The coordinators' web dashboard: sign-in and CSRF (:mod:`.auth`), the overview and its
decisions (:mod:`.views`), both on one blueprint that :func:`init_app` registers."""

from __future__ import annotations

from flask import Blueprint, Flask

from . import auth, formatting, views


def init_app(app: Flask) -> None:
    """Register the dashboard's pages, its CSRF check and its sign-in on ``app``."""
    bp = Blueprint("dashboard", __name__)
    auth.register(bp)
    formatting.register(bp)
    views.register(bp)
    app.register_blueprint(bp)
