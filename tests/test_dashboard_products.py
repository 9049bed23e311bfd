"""The Products and stock page: levels, the ledger with filters, adjustments, prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dashboard_support import post, token
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from smsgateway.models import Cooperative, Product, ProductPrice


def test_levels_prices_and_the_ledger(signed_in: FlaskClient, session: Session) -> None:
    page = signed_in.get("/dashboard/products").get_data(as_text=True)
    assert 'id="product-ARGAN"' in page and "120 l" in page and "180 MAD / l" in page
    assert "stock initial" in page
    page = post(signed_in, "/dashboard/stock", product_id=str(
        session.scalar(select(Product.id).where(Product.code == "ARGAN"))), quantity="-2",
        reason="bidon <cassé>", next="/dashboard/products")
    assert "<h1>Produits et stock</h1>" in page and "118 l" in page
    assert "bidon &lt;cassé&gt;" in page
    only = signed_in.get("/dashboard/products?reason=adjustment").get_data(as_text=True)
    assert "bidon &lt;cassé&gt;" in only and "stock initial</td>" not in only


def test_a_new_price_keeps_its_history(signed_in: FlaskClient, session: Session) -> None:
    argan = session.scalar(select(Product).where(Product.code == "ARGAN"))
    page = post(signed_in, f"/dashboard/products/{argan.id}/price", price="190,50")
    assert "Nouveau prix de Huile d&#39;argan" in page and "190,50 MAD / l" in page
    session.expire_all()
    assert session.get(Product, argan.id).member_price == Decimal("190.50")
    assert session.scalars(select(ProductPrice.member_price).where(
        ProductPrice.product_id == argan.id).order_by(ProductPrice.id)).all()[-1] == Decimal(
        "190.50")
    assert "Refusé" in post(signed_in, f"/dashboard/products/{argan.id}/price", price="abc")


def test_another_cooperatives_product_is_out_of_reach(signed_in: FlaskClient,
                                                      session: Session, demo: Any) -> None:
    other = Cooperative(slug="autre3", name="Autre")
    session.add(other)
    session.flush()
    theirs = Product(cooperative=other, code="MIEL", unit="kg", names={"fr": "Miel secret"})
    session.add(theirs)
    session.commit()
    assert "Miel secret" not in signed_in.get(
        f"/dashboard/products?product={theirs.id}").get_data(as_text=True)
    response = signed_in.post(f"/dashboard/products/{theirs.id}/price", data={
        "price": "1", "csrf_token": token(signed_in, "/dashboard/products")})
    assert response.status_code == 404
    page = post(signed_in, "/dashboard/stock", product_id=str(theirs.id), quantity="5",
                reason="x")
    assert "Produit introuvable." in page


def test_product_forms_need_their_csrf_token(signed_in: FlaskClient) -> None:
    assert signed_in.post("/dashboard/products/1/price", data={"price": "1"}).status_code == 400
