"""Actions for coordinators: orders, members' deliveries, stock adjustments, quick alerts."""

from __future__ import annotations

from decimal import Decimal

from menus.machine import Call, Result

from .. import broadcasts, outbox
from ..exceptions import InsufficientStock, InvalidTransition
from ..models import Channel, Delivery, DeliveryStatus, MovementReason, Order, OrderStatus, Product
from ..services import deliveries, orders, stock
from . import Context, action, check_pin, confirmation, coordinator_only, money, num

#: Pending orders or deliveries listed at most (oldest first); the rest wait their turn.
MAX_LISTED = 20
#: Quick-alert templates a coordinator may send (message keys in the menu YAML); urgent ones
#: pass quiet hours.
ALERT_TEMPLATES = {"alert_meeting": False, "alert_collection": True, "alert_weather": True}
ADJUST_REASONS = ("count", "loss", "correction")


def _short(text: str, size: int = 24) -> str:
    return text if len(text) <= size else text[: size - 1].rsplit(" ", 1)[0] + "."


@action("pending_orders")
def pending_orders(ctx: Context, call: Call) -> Result:
    """Orders waiting for a decision."""
    refused = coordinator_only(ctx)
    if refused:
        return refused
    items = []
    for order in orders.pending_orders(ctx.db, ctx.member.cooperative_id)[:MAX_LISTED]:
        label = ctx.menu.t("order_line", call.lang, quantity=num(order.quantity),
                           unit=order.product.unit, product=order.product.name_in(call.lang),
                           buyer=_short(order.buyer_name))
        items.append({"id": order.id, "label": label})
    return Result(items=items)


def _order(ctx: Context, call: Call) -> Order | None:
    order = ctx.db.get(Order, int(call.vars["order"]))
    if order is None or order.cooperative_id != ctx.member.cooperative_id:
        return None
    return order


@action("order_detail")
def order_detail(ctx: Context, call: Call) -> Result:
    """One pending order with the stock it would take."""
    refused = coordinator_only(ctx)
    if refused:
        return refused
    order = _order(ctx, call)
    if order is None or order.status != OrderStatus.PENDING:
        return Result(ok=False, error="already_decided")
    summary = ctx.menu.t(
        "order_summary", call.lang, order=order.id, quantity=num(order.quantity),
        unit=order.product.unit, product=order.product.name_in(call.lang),
        buyer=order.buyer_name, total=money(order.total), currency=ctx.currency,
        stock=num(stock.stock_level(ctx.db, order.product_id)))
    return Result(params={"summary": summary})


@action("decide_order")
def decide_order(ctx: Context, call: Call) -> Result:
    """Confirm (reserving stock atomically) or reject an order, after the PIN."""
    refused = coordinator_only(ctx) or check_pin(ctx, call)
    if refused:
        return refused
    member = ctx.member
    order = _order(ctx, call)
    if order is None:
        return Result(ok=False, error="already_decided")
    confirm = call.vars.get("decision") == "confirm"
    try:
        if confirm:
            orders.confirm_order(ctx.db, order, member, Channel.USSD)
        else:
            orders.reject_order(ctx.db, order, member, Channel.USSD)
    except InsufficientStock as short:
        ctx.db.rollback()
        return Result(ok=False, error="insufficient_stock", error_params={
            "available": num(short.available), "requested": num(short.requested),
            "unit": order.product.unit})
    except InvalidTransition:
        ctx.db.rollback()
        return Result(ok=False, error="already_decided")
    key = "order_confirmed" if confirm else "order_rejected"
    lang = str(member.language)
    sms = confirmation(ctx, member, f"order_decided_{'confirmed' if confirm else 'rejected'}",
                       order=order.id, quantity=num(order.quantity), unit=order.product.unit,
                       product=order.product.name_in(lang), buyer=order.buyer_name)
    outbox.commit_and_send(ctx.db, [sms])
    return Result(params={"outcome": ctx.menu.t(key, call.lang, order=order.id)})


@action("pending_deliveries")
def pending_deliveries(ctx: Context, call: Call) -> Result:
    """Members' deliveries waiting for a decision."""
    refused = coordinator_only(ctx)
    if refused:
        return refused
    items = []
    for delivery in deliveries.pending_deliveries(ctx.db, ctx.member.cooperative_id)[
            :MAX_LISTED]:
        label = ctx.menu.t("delivery_line", call.lang,
                           member=_short(delivery.member.name or delivery.member.phone, 16),
                           quantity=num(delivery.quantity), unit=delivery.product.unit,
                           product=delivery.product.name_in(call.lang))
        items.append({"id": delivery.id, "label": label})
    return Result(items=items)


def _delivery(ctx: Context, call: Call) -> Delivery | None:
    delivery = ctx.db.get(Delivery, int(call.vars["delivery"]))
    if delivery is None or delivery.member.cooperative_id != ctx.member.cooperative_id:
        return None
    return delivery


@action("delivery_detail")
def delivery_detail(ctx: Context, call: Call) -> Result:
    """One pending delivery."""
    refused = coordinator_only(ctx)
    if refused:
        return refused
    delivery = _delivery(ctx, call)
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return Result(ok=False, error="already_decided")
    summary = ctx.menu.t(
        "delivery_summary", call.lang, delivery=delivery.id,
        member=delivery.member.name or delivery.member.phone, quantity=num(delivery.quantity),
        unit=delivery.product.unit, product=delivery.product.name_in(call.lang),
        date=f"{delivery.created_at:%d/%m}")
    return Result(params={"summary": summary})


@action("decide_delivery")
def decide_delivery(ctx: Context, call: Call) -> Result:
    """Accept (into stock) or reject a member's delivery; the member gets an SMS."""
    refused = coordinator_only(ctx) or check_pin(ctx, call)
    if refused:
        return refused
    delivery = _delivery(ctx, call)
    if delivery is None:
        return Result(ok=False, error="already_decided")
    accept = call.vars.get("decision") == "accept"
    try:
        if accept:
            deliveries.accept_delivery(ctx.db, delivery, ctx.member, Channel.USSD)
        else:
            deliveries.reject_delivery(ctx.db, delivery, ctx.member, Channel.USSD)
    except InvalidTransition:
        ctx.db.rollback()
        return Result(ok=False, error="already_decided")
    owner = delivery.member
    lang = str(owner.language)
    sms = confirmation(
        ctx, owner, "sms_delivery_accepted" if accept else "sms_delivery_rejected",
        delivery=delivery.id, quantity=num(delivery.quantity), unit=delivery.product.unit,
        product=delivery.product.name_in(lang),
        balance=money(deliveries.balance(ctx.db, owner)))
    outbox.commit_and_send(ctx.db, [sms])
    key = "delivery_accepted" if accept else "delivery_rejected"
    return Result(params={"outcome": ctx.menu.t(key, call.lang, delivery=delivery.id)})


@action("adjust_stock")
def adjust_stock(ctx: Context, call: Call) -> Result:
    """Add to or take from a product's stock with a reason, after the PIN."""
    refused = coordinator_only(ctx) or check_pin(ctx, call)
    if refused:
        return refused
    member = ctx.member
    product = ctx.db.get(Product, int(call.vars["product"]))
    reason = str(call.vars.get("reason"))
    if product is None or product.cooperative_id != member.cooperative_id or (
            reason not in ADJUST_REASONS):
        return Result(ok=False, error="error")
    quantity = Decimal(str(call.vars["quantity"]))
    change = quantity if call.vars.get("direction") == "in" else -quantity
    try:
        stock.move_stock(ctx.db, product, change, MovementReason.ADJUSTMENT,
                         channel=Channel.USSD, actor=member, note=reason)
    except InsufficientStock as short:
        ctx.db.rollback()
        return Result(ok=False, error="insufficient_stock", error_params={
            "available": num(short.available), "requested": num(short.requested),
            "unit": product.unit})
    level = num(stock.stock_level(ctx.db, product.id))
    lang = str(member.language)
    sms = confirmation(ctx, member, "sms_stock_adjusted", product=product.name_in(lang),
                       change=("+" if change > 0 else "") + num(change), unit=product.unit,
                       reason=ctx.menu.t(f"reason_{reason}", lang), stock=level)
    outbox.commit_and_send(ctx.db, [sms])
    outcome = ctx.menu.t("stock_adjusted", call.lang, product=product.name_in(call.lang),
                         stock=level, unit=product.unit)
    return Result(params={"outcome": outcome})


def _alert_texts(ctx: Context, template: str) -> dict[str, str]:
    return {lang: ctx.menu.t(template, lang) for lang in ctx.menu.languages}


@action("alert_plan")
def alert_plan(ctx: Context, call: Call) -> Result:
    """How many members a quick alert reaches and what it costs."""
    refused = coordinator_only(ctx)
    if refused:
        return refused
    template = str(call.vars.get("template"))
    if template not in ALERT_TEMPLATES:
        return Result(ok=False, error="error")
    plan = broadcasts.plan(ctx.db, cooperative_ids=[ctx.member.cooperative_id],
                           texts=_alert_texts(ctx, template))
    return Result(params={"recipients": plan.recipients, "cost": money(plan.estimated_cost),
                          "currency": ctx.currency})


@action("send_alert")
def send_alert(ctx: Context, call: Call) -> Result:
    """Hand a quick alert to the broadcast queue (after the PIN); nothing is sent in the hop."""
    refused = coordinator_only(ctx) or check_pin(ctx, call)
    if refused:
        return refused
    member = ctx.member
    template = str(call.vars.get("template"))
    if template not in ALERT_TEMPLATES:
        return Result(ok=False, error="error")
    broadcast = broadcasts.create(
        ctx.db, cooperative_id=member.cooperative_id,
        audience={"cooperatives": [member.cooperative_id]},
        texts=_alert_texts(ctx, template), urgent=ALERT_TEMPLATES[template],
        created_by=member, created_by_label=f"ussd:{member.phone}", channel=Channel.USSD.value)
    sms = confirmation(ctx, member, "sms_alert_queued", broadcast=broadcast.id,
                       recipients=broadcast.recipients, cost=money(broadcast.estimated_cost))
    outbox.commit_and_send(ctx.db, [sms])
    broadcasts.start(broadcast.id)
    return Result(params={"recipients": broadcast.recipients})
