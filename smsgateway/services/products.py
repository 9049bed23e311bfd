"""Products and the price paid to members, with its history.

A price is added, never changed: ``product_prices`` keeps each one from its ``valid_from``.
A delivery is valued at the price in force on the day it was recorded, and once accepted
its ``unit_price`` is written on it, so a later price change never alters what was owed.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..exceptions import Refused
from ..models import Cooperative, Product, ProductPrice
from ..models.coop import Language
from .accounts import Actor, record, require_cooperative

CODE_RE = re.compile(r"^[A-Z][A-Z0-9]{1,29}$")
UNITS = ("kg", "g", "l", "ml", "u")
MAX_PRICE = Decimal("1000000")


def money(value: Any, field: str) -> Decimal:
    """A price read from what was typed: a number, zero or more, to the centime."""
    try:
        amount = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise Refused(field, f"{value!r} is not a number") from None
    if not amount.is_finite():
        raise Refused(field, f"{value!r} is not a number")
    if amount < 0:
        raise Refused(field, "a price cannot be below zero")
    if amount > MAX_PRICE or amount != amount.quantize(Decimal("0.01")):
        raise Refused(field, "at most 1,000,000, to the centime")
    return amount


def _names(names: dict[str, str]) -> dict[str, str]:
    clean = {lang: text.strip() for lang, text in names.items() if text and text.strip()}
    for lang in clean:
        if lang not in {code.value for code in Language}:
            raise Refused("name", f"unknown language {lang!r}")
    if "fr" not in clean:
        raise Refused("name", "a French name is needed (--name-fr)")
    if any(len(text) > 60 for text in clean.values()):
        raise Refused("name", "at most 60 characters")
    return clean


def find_product(session: Session, actor: Actor, coop: Cooperative, code: str) -> Product:
    """The cooperative's product with that code."""
    require_cooperative(session, actor, coop.id)
    product = session.scalar(select(Product).where(Product.cooperative_id == coop.id,
                                                   Product.code == code.strip().upper()))
    if product is None:
        raise Refused("code", f"no product {code.strip().upper()!r} in {coop.slug}")
    return product


def add_product(session: Session, actor: Actor, coop: Cooperative, *, code: str,
                names: dict[str, str], unit: str, member_price: Any,
                sale_price: Any = 0) -> Product:
    """A new product with its first member price, valid from now; the caller commits."""
    require_cooperative(session, actor, coop.id)
    code = code.strip().upper()
    if not CODE_RE.match(code):
        raise Refused("code", f"{code!r}: a word of letters and digits people can type by SMS")
    if session.scalar(select(Product.id).where(Product.cooperative_id == coop.id,
                                               Product.code == code)) is not None:
        raise Refused("code", f"{code} is already used in {coop.slug}")
    if unit not in UNITS:
        raise Refused("unit", f"{unit!r}: one of {', '.join(UNITS)}")
    price = money(member_price, "price")
    product = Product(cooperative_id=coop.id, code=code, names=_names(names), unit=unit,
                      member_price=price, sale_price=money(sale_price, "sale-price"))
    session.add(product)
    session.flush()
    session.add(ProductPrice(product_id=product.id, member_price=price, valid_from=utcnow(),
                             actor_label=actor.label))
    record(session, actor, "product.create", "product", product.id, coop.id, code=code,
           unit=unit, member_price=str(price))
    return product


def edit_product(session: Session, actor: Actor, product: Product, *,
                 names: dict[str, str] | None = None, sale_price: Any = None,
                 active: bool | None = None) -> Product:
    """Change a product's names, sale price or whether it is offered (not its price)."""
    require_cooperative(session, actor, product.cooperative_id)
    changed: dict[str, Any] = {}
    if names:
        merged = _names({**product.names, **names})
        if merged != product.names:
            changed["names"] = merged
            product.names = merged
    if sale_price is not None:
        price = money(sale_price, "sale-price")
        if price != product.sale_price:
            changed["sale_price"] = str(price)
            product.sale_price = price
    if active is not None and active != product.active:
        changed["active"] = active
        product.active = active
    if changed:
        record(session, actor, "product.edit", "product", product.id, product.cooperative_id,
               **changed)
    return product


def set_price(session: Session, actor: Actor, product: Product, member_price: Any,
              valid_from: datetime | None = None) -> ProductPrice:
    """A new member price from ``valid_from`` (default now; never in the future).

    Deliveries already accepted keep the price written on them.
    """
    require_cooperative(session, actor, product.cooperative_id)
    price = money(member_price, "price")
    now = utcnow()
    valid_from = valid_from or now
    if valid_from > now:
        raise Refused("from", "a price starts now or in the past, not in the future")
    latest = session.scalar(select(ProductPrice.valid_from)
                            .where(ProductPrice.product_id == product.id)
                            .order_by(ProductPrice.valid_from.desc()).limit(1))
    if latest is not None and valid_from < latest:
        raise Refused("from", f"before the current price's start ({latest:%Y-%m-%d %H:%M})")
    row = ProductPrice(product_id=product.id, member_price=price, valid_from=valid_from,
                       actor_label=actor.label)
    session.add(row)
    previous = product.member_price
    product.member_price = price
    session.flush()
    record(session, actor, "product.price", "product", product.id, product.cooperative_id,
           previous=str(previous), price=str(price), valid_from=valid_from.isoformat())
    return row


def price_on(session: Session, product: Product, when: datetime) -> Decimal:
    """The member price in force at ``when`` (the product's first price before it began)."""
    found = session.scalar(select(ProductPrice.member_price)
                           .where(ProductPrice.product_id == product.id,
                                  ProductPrice.valid_from <= when)
                           .order_by(ProductPrice.valid_from.desc(), ProductPrice.id.desc())
                           .limit(1))
    if found is None:
        found = session.scalar(select(ProductPrice.member_price)
                               .where(ProductPrice.product_id == product.id)
                               .order_by(ProductPrice.valid_from, ProductPrice.id).limit(1))
    return Decimal(found if found is not None else product.member_price)


def price_history(session: Session, product: Product) -> list[ProductPrice]:
    """Every price of the product, oldest first."""
    return list(session.scalars(select(ProductPrice).where(ProductPrice.product_id == product.id)
                                .order_by(ProductPrice.valid_from, ProductPrice.id)))


def list_products(session: Session, actor: Actor, coop: Cooperative) -> list[Product]:
    """The cooperative's products, by code."""
    require_cooperative(session, actor, coop.id)
    return list(session.scalars(select(Product).where(Product.cooperative_id == coop.id)
                                .order_by(Product.code)))
