"""Actions for coordinators: orders, members' deliveries, stock adjustments, quick alerts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from menus.machine import Call, Result

from .. import broadcasts
from ..models import Channel, DeliveryStatus, Order, OrderStatus
from ..services import alerts, deliveries, orders, stock
from ..services.outcome import Outcome, Phrase, money, num, render
from .base import Context, action, coordinator_only, finish, pin_refusal, refusal

#: Pending orders or deliveries listed at most (oldest first); the rest wait their turn.
MAX_LISTED = 20
#: Quick-alert templates a coordinator may send (message keys in the menu YAML); urgent ones
#: pass quiet hours.
ALERT_TEMPLATES = {"alert_meeting": False, "alert_collection": True, "alert_weather": True}


def _short(text: str, size: int = 24) -> str:
    return text if len(text) <= size else text[: size - 1].rsplit(" ", 1)[0] + "."


@action("pending_orders")
def pending_orders(ctx: Context, call: Call) -> Result:
    """Orders waiting for a decision."""
    return _listing(ctx, lambda coop: orders.pending_orders(ctx.session, coop), lambda o: {
        "key": "order_line", "quantity": num(o.quantity), "unit": o.product.unit,
        "product": o.product.name_in(call.lang), "buyer": _short(o.buyer_name)}, call.lang)


def _listing(ctx: Context, pending: Callable[[int], Sequence[Any]],
             line: Callable[[Any], dict[str, Any]], lang: str) -> Result:
    # Orders and deliveries alike: the oldest waiting first, one line each.
    refused = coordinator_only(ctx)
    if refused:
        return refused
    items = []
    for row in pending(ctx.member.cooperative_id)[:MAX_LISTED]:
        values = line(row)
        items.append({"id": row.id, "label": ctx.menu.t(values.pop("key"), lang, **values)})
    return Result(items=items)


def _order(ctx: Context, call: Call) -> Order | None:
    return orders.find_order(ctx.session, int(call.vars["order"]), ctx.member.cooperative_id)


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
        stock=num(stock.stock_level(ctx.session, order.product_id)))
    return Result(params={"summary": summary})


@action("decide_order")
def decide_order(ctx: Context, call: Call) -> Result:
    """Confirm (reserving stock atomically) or reject an order, after the PIN."""
    return _decide(ctx, call, orders.decide_order, int(call.vars["order"]),
                   call.vars.get("decision") == "confirm")


@action("pending_deliveries")
def pending_deliveries(ctx: Context, call: Call) -> Result:
    """Members' deliveries waiting for a decision."""
    return _listing(ctx, lambda coop: deliveries.pending_deliveries(ctx.session, coop),
                    lambda d: {"key": "delivery_line",
                               "member": _short(d.member.name or d.member.phone, 16),
                               "quantity": num(d.quantity), "unit": d.product.unit,
                               "product": d.product.name_in(call.lang)}, call.lang)


@action("delivery_detail")
def delivery_detail(ctx: Context, call: Call) -> Result:
    """One pending delivery."""
    refused = coordinator_only(ctx)
    if refused:
        return refused
    delivery = deliveries.find_delivery(ctx.session, int(call.vars["delivery"]),
                                        ctx.member.cooperative_id)
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
    return _decide(ctx, call, deliveries.decide_delivery, int(call.vars["delivery"]),
                   call.vars.get("decision") == "accept")


def _decide(ctx: Context, call: Call, decide: Callable[..., Outcome], subject_id: int,
            yes: bool) -> Result:
    # Orders and deliveries alike: PIN, the service's decision, its SMS, the outcome screen.
    refused = coordinator_only(ctx) or pin_refusal(ctx, call)
    if refused:
        return refused
    outcome = decide(ctx.session, subject_id, ctx.member, yes, Channel.USSD)
    if not outcome.ok:
        return refusal(ctx, call, outcome, not_found="already_decided")
    finish(ctx, outcome)
    said: Phrase = outcome.params["outcome"]
    return Result(params={"outcome": render(said.key, call.lang, said.params)})


@action("adjust_stock")
def adjust_stock(ctx: Context, call: Call) -> Result:
    """Add to or take from a product's stock with a reason, after the PIN."""
    refused = coordinator_only(ctx) or pin_refusal(ctx, call)
    if refused:
        return refused
    reason = str(call.vars.get("reason"))
    if reason not in stock.ADJUST_REASONS:
        return Result(ok=False, error="error")
    quantity = Decimal(str(call.vars["quantity"]))
    change = quantity if call.vars.get("direction") == "in" else -quantity
    outcome = stock.adjust_stock(ctx.session, int(call.vars["product"]), change, reason,
                                 ctx.member, Channel.USSD)
    if not outcome.ok:
        return refusal(ctx, call, outcome)
    finish(ctx, outcome)
    return Result(params={"outcome": render("stock_adjusted", call.lang, outcome.params)})


def _alert_template(call: Call) -> str | None:
    """The quick alert the coordinator chose, if the menu offers it."""
    template = str(call.vars.get("template"))
    return template if template in ALERT_TEMPLATES else None


def _alert_texts(ctx: Context, template: str) -> dict[str, str]:
    return {lang: ctx.menu.t(template, lang) for lang in ctx.menu.languages}


@action("alert_plan")
def alert_plan(ctx: Context, call: Call) -> Result:
    """How many members a quick alert reaches and what it costs."""
    refused = coordinator_only(ctx)
    if refused:
        return refused
    template = _alert_template(call)
    if template is None:
        return Result(ok=False, error="error")
    plan = broadcasts.plan(ctx.session, ctx.settings, cooperative_ids=[ctx.member.cooperative_id],
                           texts=_alert_texts(ctx, template))
    return Result(params={"recipients": plan.recipients, "cost": money(plan.estimated_cost),
                          "currency": ctx.currency})


@action("send_alert")
def send_alert(ctx: Context, call: Call) -> Result:
    """Hand a quick alert to the broadcast queue (after the PIN); nothing is sent in the hop."""
    refused = coordinator_only(ctx) or pin_refusal(ctx, call)
    if refused:
        return refused
    template = _alert_template(call)
    if template is None:
        return Result(ok=False, error="error")
    outcome = alerts.start_alert(ctx.session, ctx.member, _alert_texts(ctx, template),
                                 urgent=ALERT_TEMPLATES[template], channel=Channel.USSD,
                                 settings=ctx.settings, redis=ctx.redis)
    if not outcome.ok:
        return refusal(ctx, call, outcome)
    finish(ctx, outcome)
    return Result(params={"recipients": outcome.params["recipients"]})
