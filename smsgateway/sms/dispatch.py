"""SMS keywords dispatched: what each command does, and the reply it earns, in her language."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

from redis import Redis
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from ..config import Settings
from ..models import Channel, Delivery, DeliveryStatus, Member, Order, Product
from ..services import deliveries, members, orders, stock
from . import alerts, parse, votes
from .parse import Command
from .texts import listing, money, number, status_name, text, unit

#: Pending orders listed in one reply; the rest wait for the next COMMANDE.
ORDERS_PER_REPLY = 4


@dataclass
class Context:
    """One inbound message being answered: who sent it, and what to do after commit."""

    session: Session
    member: Member
    settings: Settings
    redis: Redis
    channel: Channel = Channel.SMS
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    @property
    def lang(self) -> str:
        """The member's language, as a code."""
        return str(self.member.language)


def handle(ctx: Context, command: Command) -> str:
    """Carry out ``command`` for ``ctx.member`` and return the reply."""
    return KEYWORD_ACTIONS.get(command.name, _not_understood)(ctx, command)


def help_text(ctx: Context) -> str:
    """The list of commands, with the coordinators' ones for a coordinator."""
    reply = text("help", ctx.lang)
    if ctx.member.is_coordinator:
        reply += " " + text("help_coordinator", ctx.lang)
    return reply


def _help(ctx: Context, _command: Command) -> str:
    return help_text(ctx)


def _not_understood(ctx: Context, _command: Command) -> str:
    return text("not_understood", ctx.lang) + " " + help_text(ctx)


# Statements built once: building one costs as much as running it, and these run per message.
_PRODUCTS = (select(Product)
             .where(Product.cooperative_id == bindparam("coop"), Product.active.is_(True))
             .order_by(Product.id))
_PENDING_DELIVERIES = select(func.count()).select_from(Delivery).where(
    Delivery.member_id == bindparam("member"), Delivery.status == DeliveryStatus.PENDING)


def _products(ctx: Context) -> list[Product]:
    return list(ctx.session.scalars(_PRODUCTS, {"coop": ctx.member.cooperative_id}))


@lru_cache(maxsize=256)
def _aliases(rows: tuple[tuple[int, str, tuple[tuple[str, str], ...]], ...]
             ) -> list[parse.ProductAlias]:
    # Products rarely change: the normalized aliases are computed once per set of names.
    return parse.product_aliases((pid, code, dict(names)) for pid, code, names in rows)


def _match(products: list[Product], words: list[str]) -> list[Product]:
    key = tuple((p.id, p.code, tuple(sorted(p.names.items()))) for p in products)
    ids = parse.match_product(words, _aliases(key))
    return [p for p in products if p.id in ids]


def _codes(products: list[Product]) -> str:
    return ", ".join(p.code for p in products)


def _chosen(ctx: Context, command: Command) -> list[Product]:
    """The products the command names, or all of the cooperative's when it names none."""
    products = _products(ctx)
    _numbers, words = parse.split_quantity(command.args)
    return _match(products, words) or products


def _stock(ctx: Context, command: Command) -> str:
    chosen = _chosen(ctx, command)
    if not chosen:
        return text("no_products", ctx.lang)
    levels = stock.stock_levels(ctx.session, ctx.member.cooperative_id)
    items = listing([
        f"{p.name_in(ctx.lang)} {number(levels.get(p.id, Decimal(0)), ctx.lang)} "
        f"{unit(p.unit, ctx.lang)}"
        for p in chosen
    ], ctx.lang)
    return text("stock", ctx.lang, items=items)


def _price(ctx: Context, command: Command) -> str:
    chosen = _chosen(ctx, command)
    if not chosen:
        return text("no_products", ctx.lang)
    currency = ctx.settings.defaults.currency
    items = listing([
        f"{p.name_in(ctx.lang)} {money(p.member_price, ctx.lang, currency)}/"
        f"{unit(p.unit, ctx.lang)}"
        for p in chosen
    ], ctx.lang)
    return text("price", ctx.lang, items=items)


def _delivery(ctx: Context, command: Command) -> str:
    products = _products(ctx)
    if not products:
        return text("no_products", ctx.lang)
    example = products[0].code
    numbers, words = parse.split_quantity(command.args)
    if not command.args:
        return text("delivery_usage", ctx.lang, example=example, products=_codes(products))
    matched = _match(products, words) if words else []
    if words and len(matched) != 1:
        return text("unknown_product", ctx.lang, word=" ".join(words)[:30],
                    products=_codes(products))
    if not words:
        if len(products) != 1:
            return text("delivery_usage", ctx.lang, example=example, products=_codes(products))
        matched = products
    product = matched[0]
    if len(numbers) != 1:
        return text("bad_quantity", ctx.lang, example=product.code)
    outcome = deliveries.deliver(ctx.session, ctx.member, product.id, numbers[0], ctx.channel)
    if outcome.error == "too_big":
        return text("quantity_too_big", ctx.lang, example=product.code,
                    max=outcome.params["max"])
    if not outcome.ok:
        return text("bad_quantity", ctx.lang, example=product.code)
    return text("delivery_recorded", ctx.lang, delivery=outcome.params["delivery"],
                quantity=numbers[0], unit=product.unit,
                product=product.name_in(ctx.lang))


def _balance(ctx: Context, _command: Command) -> str:
    amount = deliveries.balance(ctx.session, ctx.member)
    pending = ctx.session.scalar(_PENDING_DELIVERIES, {"member": ctx.member.id})
    return text("balance", ctx.lang, amount=amount,
                currency=ctx.settings.defaults.currency, pending=pending or 0)


def _order_values(ctx: Context, order: Order) -> dict[str, object]:
    return {"id": order.id, "order": order.id, "quantity": order.quantity,
            "unit": order.product.unit, "product": order.product.name_in(ctx.lang),
            "buyer": order.buyer_name[:40], "total": order.total,
            "currency": ctx.settings.defaults.currency}


def _order(ctx: Context, command: Command) -> str:
    if not ctx.member.is_coordinator:
        return text("coordinators_only", ctx.lang)
    ids = [i for i in (parse.integer(word) for word in command.args) if i is not None]
    answers = {a for a in (parse.answer(word) for word in command.args) if a is not None}
    if not ids:
        pending = orders.pending_orders(ctx.session, ctx.member.cooperative_id)
        if not pending:
            return text("no_orders", ctx.lang)
        items = "; ".join(
            f"#{o.id} {number(o.quantity, ctx.lang)} {unit(o.product.unit, ctx.lang)} "
            f"{o.product.code} "
            f"{o.buyer_name[:20]}" for o in pending[:ORDERS_PER_REPLY]
        )
        return text("orders", ctx.lang, items=items)
    order = orders.find_order(ctx.session, ids[0], ctx.member.cooperative_id)
    if order is None:
        return text("order_not_found", ctx.lang, id=ids[0])
    values = _order_values(ctx, order)
    if len(answers) != 1:
        if order.status != "pending":
            return text("order_already", ctx.lang, id=order.id,
                        status=status_name(str(order.status), ctx.lang))
        return text("order_show", ctx.lang, **values)
    confirm = answers == {"yes"}
    outcome = orders.decide_order(ctx.session, order.id, ctx.member, confirm, ctx.channel)
    if outcome.error == "insufficient_stock":
        return text("order_short", ctx.lang, id=order.id,
                    available=outcome.params["available"],
                    unit=order.product.unit)
    if not outcome.ok:
        return text("order_already", ctx.lang, id=order.id,
                    status=status_name(str(order.status), ctx.lang))
    key = "order_decided_confirmed" if confirm else "order_decided_rejected"
    return text(key, ctx.lang, **values)


def _language(ctx: Context, command: Command) -> str:
    chosen = parse.language(command.args[0]) if command.args else None
    if chosen is None or chosen not in ctx.settings.languages:
        return text("language_usage", ctx.lang)
    members.set_language(ctx.session, ctx.member.phone, chosen, channel=str(ctx.channel))
    return text("language_set", chosen)


def _stop(ctx: Context, _command: Command) -> str:
    members.set_opt_out(ctx.session, ctx.member.phone, True, channel=str(ctx.channel))
    return text("stopped", ctx.lang)


def _start(ctx: Context, _command: Command) -> str:
    members.set_opt_out(ctx.session, ctx.member.phone, False, channel=str(ctx.channel))
    return text("started", ctx.lang)


def _alert(ctx: Context, command: Command, urgent: bool = True) -> str:
    if not ctx.member.is_coordinator:
        return text("coordinators_only", ctx.lang)
    if not command.rest:
        return text("alert_usage" if urgent else "notice_usage", ctx.lang)
    return alerts.preview(ctx, command.rest, urgent=urgent)


def _notice(ctx: Context, command: Command) -> str:
    return _alert(ctx, command, urgent=False)


def _yes(ctx: Context, _command: Command) -> str:
    return alerts.confirm(ctx)


def _no(ctx: Context, _command: Command) -> str:
    return alerts.cancel(ctx)


#: Commands that change something (the database, or a pending alert in Redis): their message
#: is stored before they act, and they act in a savepoint. The others only read.
WRITING_COMMANDS = frozenset({"delivery", "order", "language", "stop", "start", "alert",
                              "notice", "yes", "no", "vote"})

#: The action of each command keyword (the parser names them; see sms/keywords.py).
KEYWORD_ACTIONS: dict[str, Callable[[Context, Command], str]] = {
    "help": _help,
    parse.EMPTY: _help,
    "stock": _stock,
    "price": _price,
    "delivery": _delivery,
    "balance": _balance,
    "order": _order,
    "language": _language,
    "stop": _stop,
    "start": _start,
    "alert": _alert,
    "notice": _notice,
    "yes": _yes,
    "no": _no,
    "vote": votes.vote,
}
