"""Signing in to the dashboard, and the CSRF token every dashboard form carries.

Accounts (administrators and coordinators) sign in with their phone and a password (not a
4-digit PIN). ``g.account`` is the signed-in account; ``g.coordinator`` her membership, through
which she decides, when she has one; :func:`visible_cooperative_ids` what she may see. Every form
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
    Response,
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
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask.typing import ResponseReturnValue

from ..db import get_session
from ..models import Account
from ..phones import try_normalize
from ..redisconn import get_redis
from ..security import check_password
from ..services import accounts
from . import i18n, lockout
from .i18n import t

#: A session unused this long ends; one ends this long after its sign-in whatever its use.
IDLE_SECONDS = 2 * 3600
SESSION_MAX_AGE = 12 * 3600
#: Paths of provider and phone callbacks, which never show a dashboard page.
WEBHOOKS = "/webhooks/"


def register(bp: Blueprint) -> None:
    """Attach sign-in, sign-out, the CSRF check and the signed-in account to ``bp``."""
    bp.record_once(_cookie_policy)
    bp.app_context_processor(_inject)
    bp.before_app_request(_check_csrf)
    bp.before_app_request(_load_account)
    bp.after_app_request(_security_headers)
    bp.add_url_rule("/dashboard/login", view_func=login, methods=["GET", "POST"])
    bp.add_url_rule("/dashboard/logout", view_func=logout, methods=["POST"])
    bp.add_url_rule("/", view_func=index, methods=["GET"])


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, not opened for the webhooks, which never carry one."""

    def open_session(self, app: Any, request: Any) -> SessionMixin | None:
        """A null session (read as empty, never saved) on a webhook; else Flask's own."""
        if request.path.startswith(WEBHOOKS):
            # Opening one builds a signing serializer per request: on the busiest paths of the
            # gateway, for a cookie no provider or phone sends.
            return self.make_null_session(app)
        return super().open_session(app, request)


def _cookie_policy(state: BlueprintSetupState) -> None:
    state.app.session_interface = CookieSessions()
    # The session cookie signs a coordinator in: keep it off cross-site requests.
    config = state.app.config
    if config.get("SESSION_COOKIE_SAMESITE") is None:
        config["SESSION_COOKIE_SAMESITE"] = "Lax"
    # Idle sessions end (the cookie is refreshed on each request, so this counts idleness).
    config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=IDLE_SECONDS)


#: The dashboard loads nothing from anywhere but the gateway, runs no inline script, and is
#: framed by no one: a slow office link never waits on a third party, and injected markup
#: (were any to slip past autoescaping) could not run.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
                           "frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


def _security_headers(response: Response) -> Response:
    if request.path.startswith("/dashboard") or request.path == "/":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html" or response.mimetype == "application/json":
            # Pages show members' data: never kept by a shared office computer's cache.
            response.headers.setdefault("Cache-Control", "no-store")
    return response


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


def _load_account() -> None:
    g.account = None
    g.coordinator = None
    if request.path.startswith(WEBHOOKS):
        return  # a provider's or a phone's call: no account, no page (see CookieSessions)
    if request.path.startswith("/dashboard") and "account_id" in session:
        if time.time() - session.get("signed_in_at", 0) > SESSION_MAX_AGE:
            session.pop("account_id", None)
            flash(t("session_expired"), "error")
        else:
            account = get_session().get(Account, session["account_id"])
            if account is not None and account.active:
                g.account = account
                member = account.member
                if member is not None and member.active and member.is_coordinator:
                    g.coordinator = member
    i18n.pick_language()


def visible_cooperative_ids() -> set[int]:
    """The cooperatives the signed-in account may see (none when signed out)."""
    return accounts.visible_cooperative_ids(get_session(), g.get("account"))


def current_cooperative_id() -> int | None:
    """The cooperative the page shows: the coordinator's own, or the one an administrator
    picked (``?coop=``, else the switch, else the first); None when she sees none."""
    visible = visible_cooperative_ids()
    account = g.get("account")
    if account is not None and not account.is_administrator:
        return account.cooperative_id if account.cooperative_id in visible else None
    for wanted in (request.args.get("coop", type=int), session.get("coop")):
        if wanted in visible:
            return wanted
    return min(visible) if visible else None


def login_required(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """Send visitors who are not signed in to the sign-in page."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        if g.account is None:
            return redirect(url_for("dashboard.login"))
        return view(*args, **kwargs)

    return wrapper


def login() -> ResponseReturnValue:
    """Sign in with an account's phone and password."""
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
    found = accounts.find_account(get_session(), phone) if phone else None
    if found is None or not check_password(found.password_hash, password):
        return render_template("dashboard/login.html", phone=raw_phone,
                               error="login_wrong"), 401
    lockout.succeeded(client, account, address)
    chosen = session.get("lang")
    session.clear()
    # A new session on sign-in (no fixation); it expires after a while without use
    # (PERMANENT_SESSION_LIFETIME) and in any case SESSION_MAX_AGE after signing in.
    session.permanent = True
    session["account_id"] = found.id
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
