"""The overview and the decisions a coordinator takes from it."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from .. import broadcasts, outbox
from ..db import get_session, utcnow
from ..models import (
    Channel,
    Delivery,
    DeliveryStatus,
    InboundMessage,
    Member,
    MessageKind,
    Order,
    OutboundMessage,
    Product,
)
from ..redisconn import get_redis
from ..services import alerts, deliveries, figures, orders, stock
from ..services.outcome import Outcome, queue_notices
from .auth import current_cooperative_id, login_required
from .formatting import money as _money
from .formatting import number as _quantity
from .formatting import zone
from .i18n import language, t, word

RECENT_MESSAGES = 15
#: The catalog key of what the dashboard says of a decision, by kind and outcome.
SAID = {
    "order": {"confirm": "order_confirmed", "reject": "order_rejected"},
    "delivery": {"accept": "delivery_accepted", "reject": "delivery_rejected"},
}


@login_required
def overview() -> ResponseReturnValue:
    """Stock, pending orders and deliveries, recent messages."""
    db = get_session()
    coordinator: Member | None = g.coordinator
    coop_id = current_cooperative_id() or 0
    levels = stock.stock_levels(db, coop_id)
    products = list(db.scalars(
        select(Product).where(Product.cooperative_id == coop_id).order_by(Product.code)))
    member_phones = select(Member.phone).where(Member.cooperative_id == coop_id)
    inbound = list(db.scalars(
        select(InboundMessage).where(InboundMessage.sender.in_(member_phones))
        .order_by(InboundMessage.id.desc()).limit(RECENT_MESSAGES)))
    outbound = list(db.scalars(
        select(OutboundMessage).where(OutboundMessage.to_phone.in_(member_phones),
                                      # A one-time code is for its member's eyes only.
                                      OutboundMessage.kind != MessageKind.SECRET)
        .order_by(OutboundMessage.id.desc()).limit(RECENT_MESSAGES)))
    last = [(b, broadcasts.progress(db, b.id)) for b in alerts.alerts_of(db, [coop_id], 3)]
    home = figures.cooperative_figures(db, coop_id, utcnow(), zone())
    return render_template(
        "dashboard/overview.html", figures=home, last_alerts=last, coordinator=coordinator,
        products=products, levels=levels,
        orders=[_order_row(o) for o in orders.pending_orders(db, coop_id)],
        deliveries=[_delivery_row(d) for d in deliveries.pending_deliveries(db, coop_id)],
        inbound=inbound, outbound=outbound,
    )


def _order_row(order: Order) -> tuple[int, list[str]]:
    product = order.product
    return order.id, [order.buyer_name, product.name_in(language()),
                      f"{_quantity(order.quantity)} {product.unit}", _money(order.total)]


def _delivery_row(delivery: Delivery) -> tuple[int, list[str]]:
    product = delivery.product
    return delivery.id, [delivery.member.name or delivery.member.phone,
                         product.name_in(language()),
                         f"{_quantity(delivery.quantity)} {product.unit}",
                         word("channel", delivery.channel)]


def _say(kind: str, key: str, outcome: Outcome, **values: object) -> None:
    """Flash what became of a decision, in her language, with the outcome's values."""
    shown = {name: _quantity(value) if isinstance(value, Decimal) else value
             for name, value in outcome.params.items()}
    if outcome.subject is not None and hasattr(outcome.subject, "name_in"):
        shown["product"] = outcome.subject.name_in(language())
    message = SAID.get(kind, {}).get(key) or f"{kind}_{key}"
    flash(t(message, **{**shown, **values}), "ok" if outcome.ok else "error")


def _commit(outcome: Outcome) -> None:
    # The page tells the coordinator; anyone else the decision concerns gets an SMS.
    db = get_session()
    currency = current_app.config["SETTINGS"].defaults.currency
    outbox.commit_and_send(db, queue_notices(db, outcome.for_others(), currency),
                           get_redis())


def _decide(kind: str, decide: Callable[..., Outcome], subject_id: int, decision: str,
            yes: str) -> ResponseReturnValue:
    if g.coordinator is None:
        # Decisions are a coordinator's, through her membership of the cooperative.
        flash(t("no_membership"), "error")
        return redirect(url_for("dashboard.overview"))
    if decision != yes and request.form.get("confirmed") != "1":
        # Refusing tells the member or the buyer by SMS and cannot be undone: ask once more.
        return render_template("dashboard/refuse_confirm.html", kind=kind, id=subject_id,
                               action=request.path, back=request.form.get("next", ""))
    outcome = decide(get_session(), subject_id, g.coordinator, decision == yes, Channel.WEB)
    subject = outcome.subject
    values: dict[str, object] = {"id": subject.id if subject is not None else subject_id}
    if outcome.error == "insufficient_stock":
        values["product"] = subject.product.name_in(language())
    if outcome.ok:
        _commit(outcome)
    _say(kind, outcome.error or decision, outcome, **values)
    back = request.form.get("next", "")
    return redirect(back if back == url_for("dashboard.order_list")
                    else url_for("dashboard.overview"))


@login_required
def decide_order(order_id: int, decision: str) -> ResponseReturnValue:
    """Confirm (reserving stock) or reject a pending order."""
    return _decide("order", orders.decide_order, order_id, decision, "confirm")


@login_required
def decide_delivery(delivery_id: int, decision: str) -> ResponseReturnValue:
    """Accept (into stock) or reject a member's pending delivery; she gets an SMS.

    A quantity far above her usual deliveries is accepted only once confirmed.
    """
    found = deliveries.find_delivery(get_session(), delivery_id, current_cooperative_id() or 0)
    if (found is not None and decision == "accept" and request.form.get("confirmed") != "1"
            and found.status == DeliveryStatus.PENDING):
        usual = deliveries.far_above_usual(get_session(), found)
        if usual is not None:
            return render_template("dashboard/delivery_confirm.html", delivery=found,
                                   usual=usual)
    return _decide("delivery", deliveries.decide_delivery, delivery_id, decision, "accept")


@login_required
def adjust_stock() -> ResponseReturnValue:
    """Add or remove stock with a reason (an inventory count, a loss, a sample)."""
    if g.coordinator is None:
        flash(t("no_membership"), "error")
        return redirect(url_for("dashboard.overview"))
    try:
        quantity = Decimal(request.form.get("quantity", "").strip().replace(",", "."))
    except InvalidOperation:
        quantity = Decimal(0)
    outcome = stock.adjust_stock(get_session(), request.form.get("product_id", type=int) or 0,
                                 quantity, request.form.get("reason", ""), g.coordinator,
                                 Channel.WEB)
    if outcome.ok:
        _commit(outcome)
    _say("stock", outcome.error or "done", outcome)
    back = request.form.get("next", "")
    return redirect(back if back == url_for("dashboard.product_list")
                    else url_for("dashboard.overview"))


def register(bp: Blueprint) -> None:
    """Attach the overview and the decisions to ``bp``."""
    bp.add_url_rule("/dashboard", view_func=overview, methods=["GET"])
    bp.add_url_rule("/dashboard/orders/<int:order_id>/<any(confirm, reject):decision>",
                    view_func=decide_order, methods=["POST"])
    bp.add_url_rule("/dashboard/deliveries/<int:delivery_id>/<any(accept, reject):decision>",
                    view_func=decide_delivery, methods=["POST"])
    bp.add_url_rule("/dashboard/stock", view_func=adjust_stock, methods=["POST"])
