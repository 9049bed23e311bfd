"""Signing in to the dashboard, and the CSRF token every dashboard form carries.

Coordinators sign in with their phone and a password (not their 4-digit PIN). Every form
carries the session's CSRF token; repeated failed sign-ins lock (see :mod:`.lockout`).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ..db import get_session
from ..models import Member, Role
from ..phones import try_normalize
from ..redisconn import get_redis
from ..security import check_password
from . import i18n, lockout
from .i18n import t

#: A session unused this long ends; one ends this long after its sign-in whatever its use.
IDLE_SECONDS = 2 * 3600
SESSION_MAX_AGE = 12 * 3600


def register(bp: Blueprint) -> None:
    """Attach sign-in, sign-out, the CSRF check and the signed-in coordinator to ``bp``."""
    bp.record_once(_cookie_policy)
    bp.app_context_processor(_inject)
    bp.before_app_request(_check_csrf)
    bp.before_app_request(_load_coordinator)
    bp.add_url_rule("/dashboard/login", view_func=login, methods=["GET", "POST"])
    bp.add_url_rule("/dashboard/logout", view_func=logout, methods=["POST"])
    bp.add_url_rule("/", view_func=index, methods=["GET"])


def _cookie_policy(state: BlueprintSetupState) -> None:
    # The session cookie signs a coordinator in: keep it off cross-site requests.
    config = state.app.config
    if config.get("SESSION_COOKIE_SAMESITE") is None:
        config["SESSION_COOKIE_SAMESITE"] = "Lax"
    # Idle sessions end (the cookie is refreshed on each request, so this counts idleness).
    config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=IDLE_SECONDS)


def csrf_token() -> str:
    """The session's CSRF token, created on first use."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def _inject() -> dict[str, Any]:
    return {"csrf_token": csrf_token}


def _check_csrf() -> None:
    # Every dashboard form posts the token; nothing else in the app posts to /dashboard.
    if request.method == "POST" and request.path.startswith("/dashboard"):
        expected = session.get("csrf", "")
        given = request.form.get("csrf_token", "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            abort(400, "jeton CSRF invalide")


def _load_coordinator() -> None:
    g.coordinator = None
    if request.path.startswith("/dashboard") and "member_id" in session:
        if time.time() - session.get("signed_in_at", 0) > SESSION_MAX_AGE:
            session.pop("member_id", None)
            flash(t("session_expired"), "error")
        else:
            member = get_session().get(Member, session["member_id"])
            if member is not None and member.active and member.role == Role.COORDINATOR:
                g.coordinator = member
    i18n.pick_language()


def login_required(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """Send visitors who are not signed in to the sign-in page."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        if g.coordinator is None:
            return redirect(url_for("dashboard.login"))
        return view(*args, **kwargs)

    return wrapper


def _find_coordinator(phone: str) -> Member | None:
    return get_session().scalar(
        select(Member).where(Member.phone == phone, Member.role == Role.COORDINATOR,
                             Member.active.is_(True), Member.password_hash.is_not(None))
        .order_by(Member.id).limit(1)
    )


def login() -> ResponseReturnValue:
    """Sign in with a coordinator's phone and password."""
    if request.method == "GET":
        return render_template("dashboard/login.html", phone="")
    raw_phone = request.form.get("phone", "")
    password = request.form.get("password", "")
    phone = try_normalize(raw_phone[:40], current_app.config["SETTINGS"].defaults.region)
    address = request.remote_addr or "unknown"
    account = phone or raw_phone[:40]
    client = get_redis()
    # The attempt is taken before the password is compared: parallel guesses cannot overrun.
    if not lockout.reserve(client, account, address):
        current_app.logger.warning("dashboard sign-in refused: locked (%s)", address)
        return render_template("dashboard/login.html", phone=raw_phone,
                               error="login_locked"), 429
    member = _find_coordinator(phone) if phone else None
    if member is None or not check_password(member.password_hash, password):
        return render_template("dashboard/login.html", phone=raw_phone,
                               error="login_wrong"), 401
    lockout.succeeded(client, account, address)
    chosen = session.get("lang")
    session.clear()
    # A new session on sign-in (no fixation); it expires after a while without use
    # (PERMANENT_SESSION_LIFETIME) and in any case SESSION_MAX_AGE after signing in.
    session.permanent = True
    session["member_id"] = member.id
    session["signed_in_at"] = int(time.time())
    if chosen:
        session["lang"] = chosen
    csrf_token()
    return redirect(url_for("dashboard.overview"))


def logout() -> ResponseReturnValue:
    """Sign out."""
    chosen = session.get("lang")
    session.clear()
    if chosen:
        session["lang"] = chosen
    flash(t("logged_out"))
    return redirect(url_for("dashboard.login"))


def index() -> ResponseReturnValue:
    """The home page is the dashboard."""
    return redirect(url_for("dashboard.overview"))
