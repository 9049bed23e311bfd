"""The Votes page: each resolution's turnout and results, and the same as JSON, polled by the
page while a vote is open (``static/dashboard-votes.js``) so the figures move without a reload.

Without a script the page shows the same figures, drawn by the server.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, abort, jsonify, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ..db import get_session, utcnow
from ..models import Resolution
from ..services import resolutions
from .auth import login_required
from .formatting import number
from .i18n import language, t
from .scope import cooperative_ids, current_cooperative

#: The page lists this many resolutions, newest first.
SHOWN = 30


def vote_view(resolution: Resolution, now: datetime) -> dict[str, Any]:
    """What the page shows of one resolution, and what its live updates send."""
    found = resolutions.results(get_session(), resolution)
    closed = resolution.closes_at <= now
    labels = (resolution.choices.get(language()) or resolution.choices.get("fr")
              or next(iter(resolution.choices.values()), []))
    top = max([*found.counts, 1])
    quorum = ""
    if found.quorum_percent:
        quorum = t("vote_quorum_met" if found.quorum_met else "vote_quorum_not_met",
                   quorum=number(found.quorum_percent))
    return {
        "id": resolution.id, "closed": closed,
        "state": t("vote_closed" if closed else "vote_open"),
        "voted": found.voted, "eligible": found.eligible,
        "turnout": t("vote_turnout", voted=number(found.voted),
                     eligible=number(found.eligible), percent=number(found.turnout_percent)),
        "quorum": quorum,
        "choices": [{"label": label, "count": number(n), "width": round(100 * n / top, 1)}
                    for label, n in zip(labels, [*found.counts, *[0] * len(labels)],
                                        strict=False)],
    }


@login_required
def vote_list() -> ResponseReturnValue:
    """Resolutions with their live turnout and results."""
    found = get_session().scalars(
        select(Resolution).where(Resolution.cooperative_id == current_cooperative().id)
        .order_by(Resolution.id.desc()).limit(SHOWN))
    now = utcnow()
    return render_template("dashboard/votes.html",
                           rows=[(r, vote_view(r, now)) for r in found])


@login_required
def vote_results(resolution_id: int) -> ResponseReturnValue:
    """One resolution's turnout and results as JSON (404 when it is not hers to see)."""
    resolution = get_session().scalar(select(Resolution).where(
        Resolution.id == resolution_id, Resolution.cooperative_id.in_(cooperative_ids())))
    if resolution is None:
        abort(404)
    return jsonify(vote_view(resolution, utcnow()))


def register(bp: Blueprint) -> None:
    """Attach the Votes page and its live results to ``bp``."""
    bp.add_url_rule("/dashboard/votes", view_func=vote_list, methods=["GET"])
    bp.add_url_rule("/dashboard/votes/<int:resolution_id>/results", view_func=vote_results,
                    methods=["GET"])
