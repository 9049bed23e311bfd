"""The Orders and Audit pages: what was ordered, who did what (votes: :mod:`.votes`)."""

from __future__ import annotations

import json

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from ..db import get_session
from ..models import AuditLog, Channel, Order, OrderStatus
from .auth import login_required
from .scope import current_cooperative

PAGE = 50


def _page() -> int:
    return max(request.args.get("page", 1, type=int) or 1, 1)


@login_required
def order_list() -> ResponseReturnValue:
    """The cooperative's orders, newest first, by status."""
    db = get_session()
    coop = current_cooperative()
    status = request.args.get("status")
    status = status if status in {s.value for s in OrderStatus} else None
    where = [Order.cooperative_id == coop.id]
    if status:
        where.append(Order.status == status)
    total = db.scalar(select(func.count()).select_from(Order).where(*where)) or 0
    rows = list(db.scalars(select(Order).where(*where).order_by(Order.id.desc())
                           .offset((_page() - 1) * PAGE).limit(PAGE)))
    return render_template("dashboard/orders.html", rows=rows, status=status,
                           statuses=[s.value for s in OrderStatus], page=_page(),
                           pages=max((total + PAGE - 1) // PAGE, 1))


@login_required
def audit_list() -> ResponseReturnValue:
    """Who did what, from which channel (web, USSD, SMS, CLI), filtered."""
    db = get_session()
    coop = current_cooperative()
    channel = request.args.get("channel")
    channel = channel if channel in {c.value for c in Channel} else None
    action = request.args.get("action", "").strip()[:60]
    where = [AuditLog.cooperative_id == coop.id]
    if channel:
        where.append(AuditLog.channel == channel)
    if action:
        where.append(AuditLog.action.startswith(action, autoescape=True))
    total = db.scalar(select(func.count()).select_from(AuditLog).where(*where)) or 0
    rows = list(db.scalars(select(AuditLog).where(*where).order_by(AuditLog.id.desc())
                           .offset((_page() - 1) * PAGE).limit(PAGE)))
    return render_template(
        "dashboard/audit.html", rows=rows, channel=channel, action=action,
        channels=[c.value for c in Channel], page=_page(),
        pages=max((total + PAGE - 1) // PAGE, 1),
        details={r.id: json.dumps(r.details, ensure_ascii=False)[:300] for r in rows})


def register(bp: Blueprint) -> None:
    """Attach the Orders and Audit pages to ``bp``."""
    bp.add_url_rule("/dashboard/orders", view_func=order_list, methods=["GET"])
    bp.add_url_rule("/dashboard/audit", view_func=audit_list, methods=["GET"])
