"""CLI for coordinators: ``products ...`` (with the price history) and ``orders ...``."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from menus.numbers import plain

from .. import outbox
from ..exceptions import Refused
from ..models import Channel, Order, OrderStatus
from ..redisconn import get_redis
from ..services import orders, products
from ..services.outcome import Phrase, queue_notices, render
from .common import (
    actor,
    as_option,
    coop_option,
    cooperative,
    language_options,
    local,
    per_language,
    region,
    transaction,
    when,
)


@click.group("products")
def products_group() -> None:
    """Products, and the price paid to members for them."""


@products_group.command("add")
@coop_option
@click.option("--code", required=True, help="The word members type by SMS (ARGAN).")
@language_options("name", "Its name")
@click.option("--unit", required=True, type=click.Choice(products.UNITS))
@click.option("--price", required=True, help="Paid to members per unit.")
@click.option("--sale-price", default="0", help="Charged to buyers per unit.")
@as_option
@with_appcontext
def products_add(slug: str, code: str, unit: str, price: str, sale_price: str,
                 as_phone: str | None, **names: Any) -> None:
    """Add a product with its first price."""
    with transaction() as session:
        who = actor(session, as_phone)
        product = products.add_product(session, who, cooperative(session, who, slug),
                                       code=code, names=per_language("name", names), unit=unit,
                                       member_price=price, sale_price=sale_price)
        click.echo(f"product {product.code} added to {slug}: {product.member_price:.2f} "
                   f"per {product.unit}")


@products_group.command("edit")
@coop_option
@click.argument("code")
@language_options("name", "Its name")
@click.option("--sale-price", default=None)
@click.option("--active/--inactive", default=None, help="Offered to members or not.")
@as_option
@with_appcontext
def products_edit(slug: str, code: str, sale_price: str | None, active: bool | None,
                  as_phone: str | None, **names: Any) -> None:
    """Change a product's names, sale price, or whether it is offered."""
    with transaction() as session:
        who = actor(session, as_phone)
        product = products.find_product(session, who, cooperative(session, who, slug), code)
        products.edit_product(session, who, product, names=per_language("name", names),
                              sale_price=sale_price, active=active)
        click.echo(f"product {product.code} saved")


@products_group.command("price")
@coop_option
@click.argument("code")
@click.argument("price")
@click.option("--from", "valid_from", default=None,
              help="When it starts (default now; 2026-06-01 08:00, never in the future).")
@as_option
@with_appcontext
def products_price(slug: str, code: str, price: str, valid_from: str | None,
                   as_phone: str | None) -> None:
    """Set the price paid to members from now on (accepted deliveries keep theirs)."""
    with transaction() as session:
        who = actor(session, as_phone)
        coop = cooperative(session, who, slug)
        product = products.find_product(session, who, coop, code)
        row = products.set_price(session, who, product, price,
                                 when(valid_from, coop.timezone, "from"))
        click.echo(f"{product.code}: {row.member_price:.2f} per {product.unit} from "
                   f"{local(row.valid_from, coop.timezone)}")


@products_group.command("list")
@coop_option
@click.option("--history", is_flag=True, help="Every price each product had.")
@as_option
@with_appcontext
def products_list(slug: str, history: bool, as_phone: str | None) -> None:
    """The products, their units and prices."""
    with transaction() as session:
        who = actor(session, as_phone)
        coop = cooperative(session, who, slug)
        zone = coop.timezone
        for product in products.list_products(session, who, coop):
            state = "" if product.active else "\t(inactive)"
            click.echo(f"{product.code}\t{product.name_in('fr')}\t{product.unit}\t"
                       f"{product.member_price:.2f}\t{product.sale_price:.2f}{state}")
            if history:
                for row in products.price_history(session, product):
                    click.echo(f"  from {local(row.valid_from, zone)}: "
                               f"{row.member_price:.2f} ({row.actor_label})")


@click.group("orders")
def orders_group() -> None:
    """Buyers' orders: record them, confirm or reject them."""


@orders_group.command("add")
@coop_option
@click.option("--buyer", required=True, help="The buyer's name.")
@click.option("--buyer-phone", default=None)
@click.option("--product", "code", required=True)
@click.option("--quantity", required=True)
@click.option("--price", default=None, help="Per unit (default: the product's sale price).")
@as_option
@with_appcontext
def orders_add(slug: str, buyer: str, buyer_phone: str | None, code: str, quantity: str,
               price: str | None, as_phone: str | None) -> None:
    """Record a buyer's order (pending)."""
    with transaction() as session:
        who = actor(session, as_phone)
        product = products.find_product(session, who, cooperative(session, who, slug), code)
        order = orders.record_order(session, who, product, buyer_name=buyer,
                                    buyer_phone=buyer_phone, quantity=quantity,
                                    unit_price=price, region=region())
        click.echo(f"order {order.id} recorded: {plain(order.quantity)} {product.unit} "
                   f"{product.code} for {order.buyer_name}, {order.total:.2f}")


@orders_group.command("list")
@coop_option
@click.option("--all", "everything", is_flag=True, help="Decided orders too.")
@as_option
@with_appcontext
def orders_list(slug: str, everything: bool, as_phone: str | None) -> None:
    """The cooperative's orders (pending ones, unless --all)."""
    with transaction() as session:
        who = actor(session, as_phone)
        coop = cooperative(session, who, slug)
        query = select(Order).where(Order.cooperative_id == coop.id).order_by(Order.id)
        if not everything:
            query = query.where(Order.status == OrderStatus.PENDING)
        for order in session.scalars(query):
            click.echo(f"{order.id}\t{order.status}\t{order.buyer_name}\t{order.product.code}\t"
                       f"{plain(order.quantity)} {order.product.unit}\t{order.total:.2f}")


def _refusal(order_id: int, error: str | None, params: dict[str, Any]) -> str:
    if error == "insufficient_stock":
        return (f"{order_id}: not enough stock ({plain(params['available'])} {params['unit']} "
                f"in stock, {plain(params['requested'])} ordered)")
    if error == "already_decided":
        return f"{order_id} is already {params.get('status')}"
    return f"no pending order {order_id} in your cooperative"


def _decide(order_id: int, confirm: bool, as_phone: str | None) -> None:
    with transaction() as session:
        who = actor(session, as_phone)
        if who.member is None or not who.member.is_coordinator:
            raise Refused("as", "a decision is a coordinator's: --as her phone")
        outcome = orders.decide_order(session, order_id, who.member, confirm, Channel.CLI)
        if not outcome.ok:
            raise Refused("order", _refusal(order_id, outcome.error, outcome.params))
        currency = current_app.config["SETTINGS"].defaults.currency
        outbox.commit_and_send(session, queue_notices(session, outcome.for_others(), currency),
                               get_redis())
        said: Phrase = outcome.params["outcome"]
        click.echo(render(said.key, str(who.member.language), said.params))


@orders_group.command("confirm")
@click.argument("order_id", type=int)
@as_option
@with_appcontext
def orders_confirm(order_id: int, as_phone: str | None) -> None:
    """Confirm a pending order (its quantity leaves the stock)."""
    _decide(order_id, True, as_phone)


@orders_group.command("reject")
@click.argument("order_id", type=int)
@as_option
@with_appcontext
def orders_reject(order_id: int, as_phone: str | None) -> None:
    """Reject a pending order."""
    _decide(order_id, False, as_phone)
