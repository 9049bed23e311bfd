"""The Channels page: each channel the shown cooperative sends through (its own and the
shared ones it falls back to), its state, last contact, a phone's battery and signal, its
queue and today's volume. Read-only: operators change channels with ``smsgateway channels``."""

from __future__ import annotations

from datetime import UTC, datetime, time

from flask import Blueprint, g, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ..db import get_session
from ..models import Cooperative
from ..services import channel_health, routing
from .auth import login_required
from .formatting import zone
from .scope import current_cooperative


def _start_of_today() -> datetime:
    # "Today" is the cooperative's day, not the server's.
    local_midnight = datetime.combine(datetime.now(zone()).date(), time(), zone())
    return local_midnight.astimezone(UTC)


@login_required
def channel_list() -> ResponseReturnValue:
    """The channels she may see: a coordinator her cooperative's, an administrator all."""
    db = get_session()
    coop = current_cooperative()
    everything = g.account.is_administrator
    items = routing.used_by(db, None if everything else [coop.id])
    traffic = channel_health.traffic(db, [c.id for c in items], _start_of_today())
    vitals = {c.id: channel_health.phone_vitals(c.health) for c in items if c.kind == "android"}
    owners = dict(db.execute(select(Cooperative.id, Cooperative.name).where(
        Cooperative.id.in_({c.cooperative_id for c in items if c.cooperative_id})
    )).all())
    return render_template("dashboard/channels.html", channels=items, traffic=traffic,
                           vitals=vitals, owners=owners)


def register(bp: Blueprint) -> None:
    """Attach the Channels page to ``bp``."""
    bp.add_url_rule("/dashboard/channels", view_func=channel_list, methods=["GET"])
