"""The coordinators' web dashboard: sign-in and CSRF (:mod:`.auth`), the overview and its
decisions (:mod:`.views`), both on one blueprint that :func:`init_app` registers."""

from __future__ import annotations

from flask import Blueprint, Flask

from . import (
    alerts,
    auth,
    channels,
    formatting,
    i18n,
    members,
    products,
    records,
    scope,
    views,
    votes,
)

#: The pages in the menu: endpoint, catalog key of its name, prefix of the endpoints it holds.
NAV_PAGES: list[tuple[str, str, str]] = [
    ("dashboard.overview", "nav_home", "dashboard.overview"),
    ("dashboard.alert_list", "nav_alerts", "dashboard.alert"),
    ("dashboard.member_list", "nav_members", "dashboard.member"),
    ("dashboard.product_list", "nav_products", "dashboard.product"),
    ("dashboard.order_list", "nav_orders", "dashboard.order"),
    ("dashboard.vote_list", "nav_votes", "dashboard.vote"),
    ("dashboard.audit_list", "nav_audit", "dashboard.audit"),
    ("dashboard.channel_list", "nav_channels", "dashboard.channel"),
]


def init_app(app: Flask) -> None:
    """Register the dashboard's pages, its CSRF check and its sign-in on ``app``."""
    bp = Blueprint("dashboard", __name__)
    auth.register(bp)
    i18n.register(bp)
    scope.register(bp)
    formatting.register(bp)
    views.register(bp)
    alerts.register(bp)
    members.register(bp)
    products.register(bp)
    records.register(bp)
    votes.register(bp)
    channels.register(bp)
    bp.app_context_processor(lambda: {"nav_pages": NAV_PAGES})
    app.register_blueprint(bp)
