"""Which cooperative's data the signed-in account sees: the one place every page asks.

A coordinator sees her own cooperative; an administrator sees every one and picks which the
pages show (kept in the session). Ids in a URL or a form are always checked against these.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, redirect, request, session
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ..db import get_session
from ..models import Cooperative
from .auth import current_cooperative_id, login_required, visible_cooperative_ids
from .i18n import back_to


def cooperative_ids() -> list[int]:
    """The cooperatives she may see (a coordinator: her own; an administrator: all)."""
    return sorted(visible_cooperative_ids())


def current_cooperative() -> Cooperative:
    """The cooperative the pages are showing (404 when she may see none)."""
    coop_id = current_cooperative_id()
    coop = get_session().get(Cooperative, coop_id) if coop_id is not None else None
    if coop is None:
        abort(404)
    return coop


@login_required
def switch_cooperative() -> ResponseReturnValue:
    """An administrator picks the cooperative the pages show."""
    wanted = request.form.get("coop", type=int)
    if wanted in visible_cooperative_ids():
        session["coop"] = wanted
    return redirect(back_to(request.form.get("next", "")))


def _inject() -> dict[str, Any]:
    account = g.get("account")
    if account is None:
        return {}
    coop_id = current_cooperative_id()
    shown = get_session().get(Cooperative, coop_id) if coop_id is not None else None
    listed = list(get_session().scalars(
        select(Cooperative).where(Cooperative.id.in_(cooperative_ids()))
        .order_by(Cooperative.name))) if account.is_administrator else []
    return {"shown_cooperative": shown, "cooperatives": listed}


def register(bp: Blueprint) -> None:
    """The cooperative switch, and the shown cooperative in every template."""
    bp.app_context_processor(_inject)
    bp.add_url_rule("/dashboard/cooperative", view_func=switch_cooperative, methods=["POST"])
