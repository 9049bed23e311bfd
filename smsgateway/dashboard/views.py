"""The overview and the decisions a coordinator takes from it (routes attach to bp)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import outbox
from ..actions import money, num
from ..db import get_session
from ..exceptions import InsufficientStock, InvalidTransition
from ..models import (
    Channel,
    Delivery,
    InboundMessage,
    Member,
    MessageKind,
    MovementReason,
    Order,
    OutboundMessage,
    Product,
)
from ..services.deliveries import (
    accept_delivery,
    balance,
    pending_deliveries,
    reject_delivery,
)
from ..services.orders import confirm_order, pending_orders, reject_order
from ..services.stock import move_stock, stock_levels
from ..ussd import get_menu
from . import bp, login_required
from .formatting import number as _quantity

RECENT_MESSAGES = 15
MAX_NOTE = 300
MAX_ADJUSTMENT = Decimal("1000000")


@bp.get("/dashboard")
@login_required
def overview() -> ResponseReturnValue:
    """Stock, pending orders and deliveries, recent messages."""
    db = get_session()
    coordinator: Member = g.coordinator
    coop_id = coordinator.cooperative_id
    levels = stock_levels(db, coop_id)
    products = list(db.scalars(
        select(Product).where(Product.cooperative_id == coop_id).order_by(Product.code)))
    member_phones = select(Member.phone).where(Member.cooperative_id == coop_id)
    inbound = list(db.scalars(
        select(InboundMessage).where(InboundMessage.sender.in_(member_phones))
        .order_by(InboundMessage.id.desc()).limit(RECENT_MESSAGES)))
    outbound = list(db.scalars(
        select(OutboundMessage).where(OutboundMessage.to_phone.in_(member_phones))
        .order_by(OutboundMessage.id.desc()).limit(RECENT_MESSAGES)))
    return render_template(
        "dashboard/overview.html", coordinator=coordinator, products=products, levels=levels,
        orders=pending_orders(db, coop_id), deliveries=pending_deliveries(db, coop_id),
        inbound=inbound, outbound=outbound,
    )


def _order(db: Session, order_id: int) -> Order | None:
    order = db.get(Order, order_id)
    if order is None or order.cooperative_id != g.coordinator.cooperative_id:
        flash("Commande introuvable.", "error")
        return None
    return order


@bp.post("/dashboard/orders/<int:order_id>/<any(confirm, reject):decision>")
@login_required
def decide_order(order_id: int, decision: str) -> ResponseReturnValue:
    """Confirm (reserving stock) or reject a pending order."""
    db = get_session()
    order = _order(db, order_id)
    if order is not None:
        try:
            if decision == "confirm":
                confirm_order(db, order, g.coordinator, Channel.WEB)
                message = f"Commande n°{order.id} confirmée."
            else:
                reject_order(db, order, g.coordinator, Channel.WEB)
                message = f"Commande n°{order.id} refusée."
            db.commit()
            flash(message, "ok")
        except InsufficientStock as error:
            db.rollback()
            product = order.product
            flash(f"Stock insuffisant pour la commande n°{order.id} : "
                  f"{_quantity(Decimal(error.available))} {product.unit} de "
                  f"{product.name_in('fr')} en stock, {_quantity(Decimal(error.requested))} "
                  "demandés.", "error")
        except InvalidTransition:
            db.rollback()
            flash(f"La commande n°{order.id} a déjà été traitée.", "error")
    return redirect(url_for("dashboard.overview"))


@bp.post("/dashboard/deliveries/<int:delivery_id>/<any(accept, reject):decision>")
@login_required
def decide_delivery(delivery_id: int, decision: str) -> ResponseReturnValue:
    """Accept (into stock) or reject a member's pending delivery; she gets an SMS."""
    db = get_session()
    delivery = db.get(Delivery, delivery_id)
    if delivery is None or delivery.member.cooperative_id != g.coordinator.cooperative_id:
        flash("Livraison introuvable.", "error")
        return redirect(url_for("dashboard.overview"))
    try:
        if decision == "accept":
            accept_delivery(db, delivery, g.coordinator, Channel.WEB)
            outcome, message = "accepted", f"Livraison n°{delivery.id} acceptée."
        else:
            reject_delivery(db, delivery, g.coordinator, Channel.WEB)
            outcome, message = "rejected", f"Livraison n°{delivery.id} refusée."
    except InvalidTransition:
        db.rollback()
        flash(f"La livraison n°{delivery.id} a déjà été traitée.", "error")
        return redirect(url_for("dashboard.overview"))
    # The same SMS, in her language, as when a coordinator decides by USSD.
    member, product = delivery.member, delivery.product
    language = str(member.language)
    text = get_menu().t(
        f"sms_delivery_{outcome}", language, delivery=delivery.id, quantity=num(delivery.quantity),
        unit=product.unit, product=product.name_in(language), balance=money(balance(db, member)),
        currency=current_app.config["SETTINGS"].defaults.currency)
    sms = outbox.add(db, to=member.phone, text=text, kind=MessageKind.CONFIRMATION,
                     member_id=member.id)
    outbox.commit_and_send(db, [sms])
    flash(message, "ok")
    return redirect(url_for("dashboard.overview"))


@bp.post("/dashboard/stock")
@login_required
def adjust_stock() -> ResponseReturnValue:
    """Add or remove stock with a reason (an inventory count, a loss, a sample)."""
    db = get_session()
    product = db.get(Product, request.form.get("product_id", type=int) or 0)
    note = request.form.get("reason", "").strip()
    try:
        quantity = Decimal(request.form.get("quantity", "").strip().replace(",", "."))
    except InvalidOperation:
        quantity = Decimal(0)
    if product is None or product.cooperative_id != g.coordinator.cooperative_id:
        flash("Produit introuvable.", "error")
    elif not quantity.is_finite() or quantity == 0 or abs(quantity) > MAX_ADJUSTMENT:
        flash("Quantité invalide : un nombre non nul, négatif pour retirer.", "error")
    elif not note:
        flash("Indiquez la raison de l'ajustement.", "error")
    else:
        try:
            move_stock(db, product, quantity, MovementReason.ADJUSTMENT, channel=Channel.WEB,
                       actor=g.coordinator, note=note[:MAX_NOTE])
            db.commit()
            flash(f"Stock de {product.name_in('fr')} ajusté de {_quantity(quantity)} "
                  f"{product.unit}.", "ok")
        except InsufficientStock as error:
            db.rollback()
            flash(f"Impossible : seulement {_quantity(Decimal(error.available))} "
                  f"{product.unit} en stock.", "error")
    return redirect(url_for("dashboard.overview"))
