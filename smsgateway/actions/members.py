"""Actions every member may run: stock, prices, her account, deliveries, votes, language.

Also the one action an unknown number may run: asking to join.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Row, bindparam, func, select

from menus.machine import Call, Result
from menus.numbers import money, number

from ..exceptions import InvalidPhoneNumber, InvalidTransition
from ..models import Channel, Cooperative, Language, Product, Resolution, StockMovement
from ..services import audit, deliveries, joins, resolutions, votes
from ..services.outcome import Notice, Outcome
from .base import Context, action, finish, pin_refusal, refusal

#: Deliveries shown under "my deliveries": the screen pages, but members want the latest.
RECENT_DELIVERIES = 5


def _coop(ctx: Context) -> int:
    return ctx.cooperative_id or ctx.member.cooperative_id


# Built once: these run on most hops, and building a statement costs more than running it.
_PRODUCTS = (
    select(Product.id, Product.names, Product.code, Product.unit, Product.member_price)
    .where(Product.cooperative_id == bindparam("coop"), Product.active.is_(True))
    .order_by(Product.id)
)
_STOCK = (
    select(Product.names, Product.code, Product.unit,
           func.coalesce(func.sum(StockMovement.quantity), 0).label("level"))
    .outerjoin(StockMovement, StockMovement.product_id == Product.id)
    .where(Product.cooperative_id == bindparam("coop"), Product.active.is_(True))
    # Grouped by the key alone: PostgreSQL cannot compare JSON, and the other columns depend
    # on the key.
    .group_by(Product.id).order_by(Product.id)
)


def _products(ctx: Context) -> list[Row[Any]]:
    # Columns, not ORM objects: these screens are the hot path of every session.
    return list(ctx.session.execute(_PRODUCTS, {"coop": _coop(ctx)}))


def _name(product: Row[Any], lang: str) -> str:
    return product.names.get(lang) or product.names.get("fr") or product.code


@action("stock_levels")
def stock_levels(ctx: Context, call: Call) -> Result:
    """The cooperative's stock, one line per product."""
    rows = ctx.session.execute(_STOCK, {"coop": _coop(ctx)})
    return Result(lines=[f"{_name(p, call.lang)}: {number(p.level, call.lang)} {p.unit}"
                         for p in rows])


@action("prices")
def prices(ctx: Context, call: Call) -> Result:
    """What the cooperative pays members per unit of each product."""
    lines = [f"{_name(p, call.lang)}: {money(p.member_price, call.lang, ctx.currency)}/{p.unit}"
             for p in _products(ctx)]
    return Result(lines=lines)


@action("products")
def products(ctx: Context, call: Call) -> Result:
    """The products to choose from."""
    items = [{"id": p.id, "label": _name(p, call.lang), "unit": p.unit}
             for p in _products(ctx)]
    return Result(items=items)


@action("my_account")
def my_account(ctx: Context, call: Call) -> Result:
    """The member's balance and latest deliveries."""
    member = ctx.member
    owed = deliveries.balance(ctx.session, member)
    balance_line = ctx.menu.t("balance_line", call.lang, balance=owed,
                              currency=ctx.currency)
    lines = [
        f"{d.created_at:%d/%m} {d.product.name_in(call.lang)} {number(d.quantity, call.lang)} "
        f"{d.product.unit}: {ctx.menu.t('status_' + str(d.status), call.lang)}"
        for d in deliveries.recent_deliveries(ctx.session, member, RECENT_DELIVERIES)
    ] or [ctx.menu.t("no_deliveries", call.lang)]
    return Result(params={"balance_line": balance_line}, lines=lines)


@action("record_delivery")
def record_delivery(ctx: Context, call: Call) -> Result:
    """Record a delivery (PIN checked), pending until a coordinator accepts it."""
    refused = pin_refusal(ctx, call)
    if refused:
        return refused
    outcome = deliveries.deliver(ctx.session, ctx.member, int(call.vars["product"]),
                                 Decimal(str(call.vars["quantity"])), Channel.USSD)
    if not outcome.ok:
        return refusal(ctx, call, outcome)
    finish(ctx, outcome)
    return Result(params={"delivery": outcome.params["delivery"]})


@action("open_resolutions")
def open_resolutions(ctx: Context, call: Call) -> Result:
    """Resolutions open for voting."""
    items = [{"id": r.id, "label": r.titles.get(call.lang) or r.titles.get("fr", "")}
             for r in votes.open_resolutions(ctx.session, ctx.member.cooperative_id,
                                             member=ctx.member)]
    return Result(items=items)


def _choices(resolution: Resolution, lang: str) -> list[str]:
    return list(resolution.choices.get(lang) or resolution.choices.get("fr") or [])


@action("vote_choices")
def vote_choices(ctx: Context, call: Call) -> Result:
    """The choices of the chosen resolution; the member's current vote is marked."""
    resolution = ctx.session.get(Resolution, int(call.vars["resolution"]))
    if resolution is None or resolution.cooperative_id != ctx.member.cooperative_id:
        return Result(ok=False, error="vote_closed")
    current = votes.current_vote(ctx.session, resolution, ctx.member)
    items = [{"id": index, "label": label + (" *" if current and current.choice == index
                                             else "")}
             for index, label in enumerate(_choices(resolution, call.lang))]
    return Result(items=items)


@action("cast_vote")
def cast_vote(ctx: Context, call: Call) -> Result:
    """Record or change the member's vote; an SMS keeps the trace."""
    member = ctx.member
    resolution = ctx.session.get(Resolution, int(call.vars["resolution"]))
    if resolution is None:
        return Result(ok=False, error="vote_closed")
    choice = int(call.vars["choice"])
    try:
        votes.cast_vote(ctx.session, member, resolution, choice, Channel.USSD)
    except (InvalidTransition, PermissionError):
        ctx.session.rollback()
        return Result(ok=False, error="vote_closed")
    lang = str(member.language)
    label = _choices(resolution, call.lang)[choice]
    finish(ctx, Outcome(notices=[Notice(member, "sms_vote", {
        "choice": _choices(resolution, lang)[choice],
        "resolution": resolution.titles.get(lang) or resolution.titles.get("fr"),
        "closes": f"{resolution.closes_at:%d/%m/%Y}"}, to_actor=True)]))
    return Result(params={"choice_label": label.removesuffix(" *")})


@action("vote_results")
def vote_results(ctx: Context, call: Call) -> Result:
    """The results of the latest closed votes: count, turnout, quorum."""
    lines = []
    for resolution in resolutions.closed_for(ctx.session, ctx.member):
        found = resolutions.results(ctx.session, resolution)
        lines.append(ctx.menu.t(
            "result_line", call.lang,
            resolution=resolution.titles.get(call.lang) or resolution.titles.get("fr", ""),
            results=resolutions.result_line(resolution, found, call.lang),
            turnout=found.turnout_percent,
            quorum=ctx.menu.t("quorum_met" if found.quorum_met else "quorum_not_met",
                              call.lang)))
    return Result(lines=lines or [ctx.menu.t("no_results", call.lang)])


@action("set_language")
def set_language(ctx: Context, call: Call) -> Result:
    """Change and keep the member's language."""
    language = Language(str(call.vars["language"]))
    member = ctx.member
    previous = str(member.language)
    member.language = language
    audit.record(ctx.session, "member.language", "member", member.id, channel=Channel.USSD,
                 actor=member, details={"from": previous, "to": str(language)})
    ctx.session.commit()
    return Result(lang=str(language))


@action("join_request")
def join_request(ctx: Context, call: Call) -> Result:
    """An unknown number asks to join; the coordinator sees the request."""
    cooperative = (ctx.session.get(Cooperative, ctx.cooperative_id) if ctx.cooperative_id
                   else joins.default_cooperative(ctx.session))
    if cooperative is None:
        return Result(ok=False, error="error", end=True)
    try:
        joins.request_join(ctx.session, cooperative, ctx.phone, Channel.USSD,
                           ctx.settings.defaults.region)
    except InvalidPhoneNumber:
        return Result(ok=False, error="error", end=True)
    ctx.session.commit()
    return Result()
