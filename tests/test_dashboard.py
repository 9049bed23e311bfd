"""The coordinators' dashboard through the Flask client, on the real database and Redis."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from dashboard_support import login as _login
from dashboard_support import post as _post
from flask import Flask
from flask.testing import FlaskClient
from sms_support import AICHA_FR, at_form
from sqlalchemy import select
from sqlalchemy.orm import Session

from smsgateway.dashboard.lockout import MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS
from smsgateway.models import (
    Channel,
    Delivery,
    DeliveryStatus,
    Member,
    MessageKind,
    MovementReason,
    Order,
    OrderStatus,
    OutboundMessage,
    OutboundStatus,
    Product,
    StockMovement,
)
from smsgateway.seed import DEMO_COORDINATOR, DEMO_PASSWORD
from smsgateway.services.deliveries import record_delivery
from smsgateway.services.stock import stock_level


def test_root_redirects_to_the_dashboard_and_the_dashboard_to_login(
    client: FlaskClient, demo: Any
) -> None:
    assert client.get("/").location.endswith("/dashboard")
    assert client.get("/dashboard").location.endswith("/dashboard/login")


@pytest.mark.parametrize(
    ("phone", "password", "status"),
    [
        (DEMO_COORDINATOR, DEMO_PASSWORD, 302),
        ("0600000001", DEMO_PASSWORD, 302),
        (DEMO_COORDINATOR, "wrong-password", 401),
        (DEMO_COORDINATOR, "1234", 401),
        ("+212600000002", DEMO_PASSWORD, 401),
        ("not a phone", DEMO_PASSWORD, 401),
        ("", "", 401),
    ],
    ids=["coordinator", "national-spelling", "wrong-password", "pin-is-not-a-password",
         "member-not-coordinator", "garbage-phone", "empty"],
)
def test_login(client: FlaskClient, demo: Any, phone: str, password: str, status: int) -> None:
    response = _login(client, phone, password)
    assert response.status_code == status
    if status == 401:
        assert "Numéro ou mot de passe incorrect" in response.get_data(as_text=True)
        assert client.get("/dashboard").status_code == 302


def test_repeated_failures_lock_the_phone_even_for_the_right_password(
    client: FlaskClient, demo: Any
) -> None:
    for _ in range(MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS):
        assert _login(client, password="nope-nope").status_code == 401
    response = _login(client)
    assert response.status_code == 429
    assert "Réessayez dans 15 minutes" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "form"),
    [("/dashboard/login", {"phone": DEMO_COORDINATOR, "password": DEMO_PASSWORD}),
     ("/dashboard/stock", {"product_id": "1", "quantity": "5", "reason": "x"}),
     ("/dashboard/orders/1/confirm", {}),
     ("/dashboard/logout", {})],
    ids=["login", "stock", "order", "logout"],
)
def test_every_form_needs_the_csrf_token(
    signed_in: FlaskClient, path: str, form: dict[str, str]
) -> None:
    assert signed_in.post(path, data=form).status_code == 400
    assert signed_in.post(path, data={**form, "csrf_token": "forged"}).status_code == 400


def test_overview_shows_stock_orders_deliveries_in_french(
    signed_in: FlaskClient, session: Session
) -> None:
    page = signed_in.get("/dashboard").get_data(as_text=True)
    assert 'id="stock-ARGAN">120 l' in page and 'id="stock-AMLOU">53 kg' in page
    assert "Épicerie Bio Agadir" in page and "Commandes en attente" in page
    assert "Aucune livraison en attente." in page


def test_confirm_order_reserves_stock(signed_in: FlaskClient, session: Session) -> None:
    order = session.scalars(select(Order)).one()
    page = _post(signed_in, f"/dashboard/orders/{order.id}/confirm")
    assert f"Commande n°{order.id} confirmée." in page
    session.expire_all()
    assert session.get(Order, order.id).status == OrderStatus.CONFIRMED
    assert stock_level(session, order.product_id) == Decimal("110")
    # Deciding twice says so instead of failing.
    assert "a déjà été traitée" in _post(signed_in, f"/dashboard/orders/{order.id}/reject",
                                         confirmed="1")


def test_confirm_order_without_enough_stock_is_refused_clearly(
    signed_in: FlaskClient, session: Session
) -> None:
    order = session.scalars(select(Order)).one()
    order.quantity = Decimal("500")
    session.commit()
    page = _post(signed_in, f"/dashboard/orders/{order.id}/confirm")
    assert "Stock insuffisant pour la commande" in page and "120 l" in page
    session.expire_all()
    assert session.get(Order, order.id).status == OrderStatus.PENDING
    assert stock_level(session, order.product_id) == Decimal("120")


def test_reject_order(signed_in: FlaskClient, session: Session) -> None:
    order = session.scalars(select(Order)).one()
    assert f"Refuser la commande n°{order.id} ?" in _post(
        signed_in, f"/dashboard/orders/{order.id}/reject")
    session.expire_all()
    assert session.get(Order, order.id).status == OrderStatus.PENDING
    assert f"Commande n°{order.id} refusée." in _post(
        signed_in, f"/dashboard/orders/{order.id}/reject", confirmed="1")
    session.expire_all()
    assert session.get(Order, order.id).status == OrderStatus.REJECTED


@pytest.mark.parametrize(
    ("decision", "status", "stock", "sms"),
    [("accept", DeliveryStatus.ACCEPTED, Decimal("58"),
      "تم قبول توريدك {id} (5 كلغ أملو). مستحقاتك 1560 درهم."),
     ("reject", DeliveryStatus.REJECTED, Decimal("53"),
      "تم رفض توريدك {id} (5 كلغ أملو). راجع المنسق.")],
    ids=["accept", "reject"],
)
def test_decide_delivery_and_tell_the_member_by_sms(
    signed_in: FlaskClient, session: Session, run_jobs: Any, decision: str,
    status: DeliveryStatus, stock: Decimal, sms: str,
) -> None:
    khadija = session.scalar(select(Member).where(Member.phone == "+212600000002"))
    amlou = session.scalar(select(Product).where(Product.code == "AMLOU"))
    delivery = record_delivery(session, khadija, amlou, Decimal("5"), Channel.USSD)
    session.commit()
    assert f'id="delivery-{delivery.id}"' in signed_in.get("/dashboard").get_data(as_text=True)
    _post(signed_in, f"/dashboard/deliveries/{delivery.id}/{decision}", confirmed="1")
    run_jobs()
    session.expire_all()
    assert session.get(Delivery, delivery.id).status == status
    assert stock_level(session, amlou.id) == stock
    message = session.scalars(select(OutboundMessage)).one()
    assert message.to_phone == khadija.phone and message.text == sms.format(id=delivery.id)
    assert message.kind == MessageKind.CONFIRMATION
    assert message.status == OutboundStatus.DELIVERED


@pytest.mark.parametrize(
    ("quantity", "reason", "message", "moved"),
    [("5", "inventaire", "ajusté de 5 l", Decimal("5")),
     ("-2,5", "bidon cassé", "ajusté de -2,5 l", Decimal("-2.5")),
     ("-500", "perte", "seulement 120 l en stock", None),
     ("abc", "inventaire", "Quantité invalide", None),
     ("0", "inventaire", "Quantité invalide", None),
     ("NaN", "inventaire", "Quantité invalide", None),
     ("100001", "inventaire", "Quantité invalide", None),
     ("5", "  ", "Indiquez la raison", None)],
    ids=["add", "remove-decimal-comma", "below-zero", "letters", "zero", "nan", "above-the-limit",
         "no-reason"],
)
def test_stock_adjustment(
    signed_in: FlaskClient, session: Session, quantity: str, reason: str, message: str,
    moved: Decimal | None,
) -> None:
    argan = session.scalar(select(Product).where(Product.code == "ARGAN"))
    page = _post(signed_in, "/dashboard/stock", product_id=str(argan.id), quantity=quantity,
                 reason=reason)
    assert message in page
    adjustments = session.scalars(select(StockMovement).where(
        StockMovement.reason == MovementReason.ADJUSTMENT)).all()
    if moved is None:
        assert adjustments == []
    else:
        (movement,) = adjustments
        assert movement.quantity == moved and movement.channel == Channel.WEB
        assert movement.note == reason and movement.actor_member_id is not None


def test_recent_messages_are_listed(signed_in: FlaskClient, session: Session,
                                    app: Flask) -> None:
    from smsgateway import outbox

    with app.test_request_context():
        outbox.add(session, to="+212600000003", text="Azul! Tamkrt n 5 kg",
                   kind=MessageKind.REPLY)
        session.commit()
    page = signed_in.get("/dashboard").get_data(as_text=True)
    assert "Messages envoyés" in page and "Azul! Tamkrt n 5 kg" in page


def test_session_cookie_stays_off_cross_site_requests(app: Flask) -> None:
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True


def test_logout(signed_in: FlaskClient) -> None:
    page = _post(signed_in, "/dashboard/logout")
    assert "Déconnexion réussie." in page
    assert signed_in.get("/dashboard").status_code == 302


def test_home_shows_counts_waiting_items_charts_and_last_alerts(
    signed_in: FlaskClient, session: Session, demo: Any
) -> None:
    from smsgateway.services.joins import request_join

    khadija = session.scalar(select(Member).where(Member.phone == "+212600000002"))
    amlou = session.scalar(select(Product).where(Product.code == "AMLOU"))
    record_delivery(session, khadija, amlou, Decimal("5"), Channel.USSD)
    request_join(session, demo, "0677777777", Channel.USSD, "MA")
    khadija.opted_out = True
    session.commit()
    page = signed_in.get("/dashboard").get_data(as_text=True)
    assert '<li id="fig-active"><b>4</b>' in page and '<li id="fig-opted-out"><b>1</b>' in page
    for tile in ("fig-orders", "fig-deliveries", "fig-joins"):
        assert f'<li id="{tile}"><a href=' in page and f'id="{tile}"><a' in page
    assert page.count("<b>1</b> ") >= 3  # one order, one delivery, one join request
    for chart in ("chart-deliveries", "chart-messages", "chart-rate"):
        assert f'id="{chart}"' in page
    assert page.count("<rect ") == 8 + 14 + 14
    assert "Aucune alerte envoyée." in page


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_home_charts_end_on_the_cooperatives_today(
    signed_in: FlaskClient, session: Session, demo: Any, zone: str
) -> None:
    """UTC+14 and UTC-11 never share a date: the charts end on the cooperative's own."""
    from zoneinfo import ZoneInfo

    from smsgateway.db import utcnow

    demo.timezone = zone
    session.commit()
    before = utcnow().astimezone(ZoneInfo(zone)).strftime("%d/%m")
    page = signed_in.get("/dashboard").get_data(as_text=True)
    after = utcnow().astimezone(ZoneInfo(zone)).strftime("%d/%m")
    chart = page[page.index('id="chart-messages"'):]
    last_label = chart[:chart.index("</svg>")].rsplit('text-anchor="end">', 1)[1]
    assert last_label.split("<", 1)[0] in (before, after)


def test_a_delivery_far_above_her_usual_asks_once_more(
    signed_in: FlaskClient, session: Session
) -> None:
    from smsgateway.services.deliveries import accept_delivery

    khadija = session.scalar(select(Member).where(Member.phone == "+212600000002"))
    fatima = session.scalar(select(Member).where(Member.phone == DEMO_COORDINATOR))
    amlou = session.scalar(select(Product).where(Product.code == "AMLOU"))
    for quantity in ("4", "5", "6"):
        accept_delivery(session, record_delivery(session, khadija, amlou, Decimal(quantity),
                                                 Channel.USSD), fatima, Channel.WEB)
    usual = record_delivery(session, khadija, amlou, Decimal("7"), Channel.USSD)
    typo = record_delivery(session, khadija, amlou, Decimal("50"), Channel.USSD)
    session.commit()
    assert "acceptée" in _post(signed_in, f"/dashboard/deliveries/{usual.id}/accept")
    page = _post(signed_in, f"/dashboard/deliveries/{typo.id}/accept")
    assert "quantité inhabituelle" in page and "livre 50 kg de Amlou, d&#39;habitude" in page
    session.expire_all()
    assert session.get(Delivery, typo.id).status == DeliveryStatus.PENDING
    page = _post(signed_in, f"/dashboard/deliveries/{typo.id}/accept", confirmed="1")
    assert f"Livraison n°{typo.id} acceptée." in page
    session.expire_all()
    assert session.get(Delivery, typo.id).status == DeliveryStatus.ACCEPTED


def test_pages_carry_a_strict_content_security_policy(signed_in: FlaskClient) -> None:
    response = signed_in.get("/dashboard")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_session_ends_twelve_hours_after_sign_in(signed_in: FlaskClient) -> None:
    import time

    from smsgateway.dashboard import auth

    assert signed_in.get("/dashboard").status_code == 200
    # In use all along (so never idle), but signed in long ago.
    with signed_in.session_transaction() as cookie:
        cookie["signed_in_at"] = int(time.time()) - auth.SESSION_MAX_AGE - 60
    response = signed_in.get("/dashboard", follow_redirects=True)
    assert "Session expirée" in response.get_data(as_text=True)
    assert signed_in.get("/dashboard").status_code == 302


def test_the_session_cookie_is_permanent_with_an_idle_lifetime(app: Flask,
                                                               client: FlaskClient,
                                                               demo: Any) -> None:
    from smsgateway.dashboard import auth

    response = _login(client)
    cookie = response.headers["Set-Cookie"]
    assert "Expires=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() == auth.IDLE_SECONDS


def test_production_cookies_are_secure(make_app: Any) -> None:
    app = make_app(server={"secure_cookies": True})
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_a_webhook_neither_reads_nor_refreshes_a_dashboard_session(
        signed_in: FlaskClient) -> None:
    # The same client holds a signed-in session cookie: the dashboard refreshes it on each of
    # its pages, a provider's callback never opens it (a null session: not read, not written).
    assert "Set-Cookie" in signed_in.get("/dashboard").headers
    answer = signed_in.post("/webhooks/africastalking/sms", data=at_form(AICHA_FR, "STOCK"))
    assert answer.status_code == 200
    assert "Set-Cookie" not in answer.headers and "Cookie" not in answer.headers.get("Vary", "")
    assert signed_in.get("/dashboard").status_code == 200  # still signed in
