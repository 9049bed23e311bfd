"""The Products and stock page: levels from the ledger, the ledger with filters, adjustments
with a reason (posted to the overview's form), and member prices with their history."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ..db import get_session
from ..exceptions import Refused
from ..models import Channel, MovementReason, Product
from ..services import products, stock
from ..services.accounts import actor_for
from .auth import login_required
from .i18n import t
from .scope import cooperative_ids, current_cooperative

LEDGER_PAGE = 50


@login_required
def product_list() -> ResponseReturnValue:
    """Products with their level and prices; the ledger below, filtered."""
    db = get_session()
    coop = current_cooperative()
    items = list(db.scalars(select(Product).where(Product.cooperative_id == coop.id)
                            .order_by(Product.code)))
    wanted = request.args.get("product", type=int)
    product_id = wanted if wanted in {p.id for p in items} else None
    reason = request.args.get("reason")
    reason = reason if reason in {r.value for r in MovementReason} else None
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows, total = stock.ledger(db, coop.id, product_id=product_id, reason=reason,
                               limit=LEDGER_PAGE, offset=(page - 1) * LEDGER_PAGE)
    return render_template(
        "dashboard/products.html", products=items, levels=stock.stock_levels(db, coop.id),
        history={p.id: products.price_history(db, p) for p in items}, rows=rows,
        total=total, page=page, pages=max((total + LEDGER_PAGE - 1) // LEDGER_PAGE, 1),
        product_id=product_id, reason=reason, reasons=[r.value for r in MovementReason])


@login_required
def set_price(product_id: int) -> ResponseReturnValue:
    """A new member price from now on (deliveries already accepted keep theirs)."""
    db = get_session()
    product = db.get(Product, product_id)
    if product is None or product.cooperative_id not in cooperative_ids():
        abort(404)
    try:
        products.set_price(db, actor_for(g.account, Channel.WEB.value), product,
                           request.form.get("price", "").strip().replace(",", "."))
    except Refused as error:
        db.rollback()
        flash(t("member_refused", reason=error.message), "error")
    else:
        db.commit()
        flash(t("price_set", product=product.name_in(g.lang)), "ok")
    return redirect(url_for("dashboard.product_list"))


def register(bp: Blueprint) -> None:
    """Attach the Products pages to ``bp``."""
    bp.add_url_rule("/dashboard/products", view_func=product_list, methods=["GET"])
    bp.add_url_rule("/dashboard/products/<int:product_id>/price", view_func=set_price,
                    methods=["POST"])
