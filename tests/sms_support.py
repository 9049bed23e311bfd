"""Shared by the SMS tests: forms as each provider posts them, signing, and the case table.

The case table is provider-neutral: each provider's test module posts every case in its own
wire format and checks the stored message, the reply and the HTTP answer.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from smsgateway.models import (
    Cooperative,
    Delivery,
    InboundMessage,
    Language,
    Member,
    Order,
    OrderStatus,
    OutboundMessage,
)
from smsgateway.services.members import add_member
from smsgateway.services.stock import stock_level

COORDINATOR, KHADIJA_AR, ITTO_ZGH, AICHA_FR, EMMA_EN = (
    "+212600000001", "+212600000002", "+212600000003", "+212600000004", "+212600000005")
UNKNOWN = "+212611111111"
PUBLIC_BASE = "https://gateway.example.org"

_ids = itertools.count(1)


def new_id(prefix: str = "ATXid_in") -> str:
    """A provider message id not used before in this run."""
    return f"{prefix}{next(_ids)}"


def at_form(phone: str, text: str, message_id: str | None = None) -> dict[str, str]:
    """An inbound SMS as Africa's Talking posts it."""
    return {"from": phone, "to": "20880", "text": text, "date": "2026-11-22 10:00:00",
            "id": message_id or new_id(), "linkId": "", "networkCode": "60400"}


def twilio_form(phone: str, body: str, sid: str | None = None) -> dict[str, str]:
    """An inbound SMS as Twilio posts it."""
    return {"MessageSid": sid or new_id("SM"), "AccountSid": "ACtest", "From": phone,
            "To": "+15005550006", "Body": body, "NumMedia": "0", "NumSegments": "1",
            "SmsStatus": "received", "ApiVersion": "2010-04-01"}


def sign(token: str, url: str, form: dict[str, str]) -> str:
    """X-Twilio-Signature for ``form`` posted to ``url``."""
    return RequestValidator(token).compute_signature(url, form)


def post_twilio(client: Any, path: str, form: dict[str, str], token: str = "test-token",
                url: str | None = None, signature: str | None = None) -> Any:
    """Post a signed Twilio webhook (``signature=""`` sends none)."""
    if signature is None:
        signature = sign(token, url or PUBLIC_BASE + path, form)
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return client.post(path, data=form, headers=headers)


def inbound(session: Session, provider: str, message_id: str) -> InboundMessage | None:
    """The stored inbound message, read fresh."""
    session.expire_all()
    return session.scalar(select(InboundMessage).where(
        InboundMessage.provider == provider, InboundMessage.provider_message_id == message_id))


def replies_to(session: Session, inbound_id: int) -> list[OutboundMessage]:
    """The replies stored for an inbound message."""
    return list(session.scalars(select(OutboundMessage).where(
        OutboundMessage.in_reply_to_id == inbound_id).order_by(OutboundMessage.id)))


def member(session: Session, phone: str) -> Member:
    """The member with this phone, read fresh."""
    session.expire_all()
    return session.scalars(select(Member).where(Member.phone == phone)).one()


@pytest.fixture
def sms_demo(demo: Cooperative, session: Session) -> Cooperative:
    """The demo cooperative plus Emma, a member who reads English."""
    add_member(session, demo, EMMA_EN, region="MA", name="Emma", language=Language.EN, pin="1234")
    session.commit()
    return demo


def _pending_delivery(qty: str, code: str) -> Callable[[Session], bool]:
    def check(session: Session) -> bool:
        rows = session.scalars(select(Delivery).order_by(Delivery.id.desc())).all()
        return (rows[0].status == "pending" and rows[0].quantity == Decimal(qty)
                and rows[0].product.code == code)
    return check


def _no_new_delivery(session: Session) -> bool:
    return len(session.scalars(select(Delivery)).all()) == 1  # only the seeded one


def _order_is(status: OrderStatus, stock: str | None = None) -> Callable[[Session], bool]:
    def check(session: Session) -> bool:
        order = session.scalars(select(Order)).one()
        return order.status == status and (
            stock is None or stock_level(session, order.product_id) == Decimal(stock))
    return check


def _language_is(phone: str, language: str) -> Callable[[Session], bool]:
    return lambda session: member(session, phone).language == language


def _opted_out(phone: str) -> Callable[[Session], bool]:
    return lambda session: member(session, phone).opted_out is True


@dataclass(frozen=True)
class Case:
    """One inbound SMS and what must come of it."""

    id: str
    phone: str
    text: str
    command: str
    reply: tuple[str, ...]
    check: Callable[[Session], bool] | None = field(default=None, compare=False)
    member: bool = True


CASES = [
    # help, in each language, and the coordinator's longer one
    Case("help-fr", AICHA_FR, "AIDE", "help", ("Commandes: STOCK, PRIX",)),
    Case("help-ar", KHADIJA_AR, "مساعدة", "help", ("الأوامر",)),
    Case("help-zgh", ITTO_ZGH, "tawsna", "help", ("Tinaddin",)),
    Case("help-en", EMMA_EN, "HELP", "help", ("Commands: STOCK, PRICE",)),
    Case("help-darija", KHADIJA_AR, "3awni", "help", ("الأوامر",)),
    Case("help-coordinator", COORDINATOR, "Aide", "help", ("ALERTE <texte>",)),
    # stock
    Case("stock-fr", AICHA_FR, "STOCK", "stock", ("Stock: Huile d'argan 120 l, Amlou 53 kg",)),
    # Arabic units and the Arabic comma between items; no Latin "l" glued to Arabic text.
    Case("stock-ar", KHADIJA_AR, "المخزون", "stock",
         ("المخزون: زيت أركان 120 لتر، أملو 53 كلغ",)),
    Case("stock-zgh-one-product", ITTO_ZGH, "stock argan", "stock",
         ("Lmakhzan: Tazit n argan 120 l",)),
    Case("stock-en", EMMA_EN, "stock", "stock", ("Argan oil 120 l, Amlou 53 kg",)),
    # price
    Case("price-fr", AICHA_FR, "PRIX", "price", ("Huile d'argan 180 MAD/l, Amlou 120 MAD/kg",)),
    Case("price-ar", KHADIJA_AR, "ثمن", "price", ("الثمن", "زيت أركان 180 درهم/لتر")),
    Case("price-zgh", ITTO_ZGH, "ATIG", "price", ("Atig i imddukkal: Tazit n argan 180",)),
    Case("price-en-one-product", EMMA_EN, "PRICE amlou", "price",
         ("Price paid to members: Amlou 120 MAD/kg",)),
    Case("price-darija", KHADIJA_AR, "souma", "price", ("الثمن",)),
    # deliveries: recorded pending, product in any language, quantity in any digits
    Case("delivery-fr", AICHA_FR, "LIVRAISON ARGAN 5", "delivery",
         ("Livraison #2 enregistrée: 5 l Huile d'argan",), _pending_delivery("5", "ARGAN")),
    Case("delivery-ar-eastern-digits", KHADIJA_AR, "تسليم أملو ٣", "delivery",
         ("تم تسجيل التوريد #2: 3 كلغ أملو",), _pending_delivery("3", "AMLOU")),
    Case("delivery-ar-product-name", KHADIJA_AR, "تسليم زيت أركان ١٢", "delivery",
         ("12 لتر زيت أركان",), _pending_delivery("12", "ARGAN")),
    Case("delivery-zgh-decimal-comma", ITTO_ZGH, "awigh argan 2,5", "delivery",
         ("2,5 l Tazit n argan",), _pending_delivery("2.5", "ARGAN")),
    Case("delivery-en-quantity-first", EMMA_EN, "DELIVERY 4 kg amlou", "delivery",
         ("Delivery #2 recorded: 4 kg Amlou",), _pending_delivery("4", "AMLOU")),
    Case("delivery-darija", AICHA_FR, "jbt argan 7", "delivery", ("7 l Huile d'argan",),
         _pending_delivery("7", "ARGAN")),
    Case("delivery-french-name", AICHA_FR, "livraison 3 litres d'huile d'argan", "delivery",
         ("3 l Huile d'argan",), _pending_delivery("3", "ARGAN")),
    Case("delivery-product-typo", AICHA_FR, "livraison argn 5", "delivery",
         ("5 l Huile d'argan",), _pending_delivery("5", "ARGAN")),
    Case("delivery-letters-for-quantity", AICHA_FR, "LIVRAISON ARGAN cinq", "delivery",
         ("Quantité invalide",), _no_new_delivery),
    Case("delivery-zero", AICHA_FR, "LIVRAISON ARGAN 0", "delivery", ("Quantité invalide",),
         _no_new_delivery),
    # the largest delivery is the service's, the same on every channel (USSD caps at 10000)
    Case("delivery-at-the-limit", AICHA_FR, "LIVRAISON ARGAN 10000", "delivery",
         ("Livraison #2 enregistrée: 10000 l",), _pending_delivery("10000", "ARGAN")),
    Case("delivery-above-the-limit", AICHA_FR, "LIVRAISON ARGAN 99999", "delivery",
         ("Quantité trop grande: 10000 au plus",), _no_new_delivery),
    Case("delivery-above-the-limit-ar", KHADIJA_AR, "تسليم أركان ٩٩٩٩٩", "delivery",
         ("الكمية كبيرة جدا: 10000 على الأكثر",), _no_new_delivery),
    Case("delivery-above-the-limit-zgh", ITTO_ZGH, "AWIGH ARGAN 99999", "delivery",
         ("Mnck iggut: 10000",), _no_new_delivery),
    Case("delivery-above-the-limit-en", EMMA_EN, "DELIVERY AMLOU 10000.5", "delivery",
         ("Quantity too large: at most 10000",), _no_new_delivery),
    Case("delivery-too-precise", AICHA_FR, "LIVRAISON ARGAN 1,0001", "delivery",
         ("Quantité invalide",), _no_new_delivery),
    Case("delivery-unknown-product", AICHA_FR, "LIVRAISON SAFRAN 5", "delivery",
         ("Produit inconnu: safran. Produits: ARGAN, AMLOU",), _no_new_delivery),
    Case("delivery-no-arguments", KHADIJA_AR, "تسليم", "delivery", ("تسليم <منتوج> <كمية>",),
         _no_new_delivery),
    # balance: Khadija is owed 8 kg of amlou at 120
    Case("balance-fr", AICHA_FR, "SOLDE", "balance", ("Votre solde: 0 MAD",)),
    Case("balance-ar", KHADIJA_AR, "رصيد", "balance", ("رصيدك: 960 درهم",)),
    Case("balance-zgh", ITTO_ZGH, "IDRIMN", "balance", ("Lhqq nnm: 0 MAD",)),
    Case("balance-en", EMMA_EN, "balance", "balance", ("Your balance: 0 MAD",)),
    Case("balance-darija", KHADIJA_AR, "flous", "balance", ("رصيدك: 960 درهم",)),
    # orders (coordinator)
    Case("order-list", COORDINATOR, "COMMANDE", "order",
         ("Commandes en attente: #1 10 l ARGAN",), _order_is(OrderStatus.PENDING)),
    Case("order-show", COORDINATOR, "COMMANDE 1", "order",
         ("Commande #1: 10 l Huile d'argan", "COMMANDE 1 OUI ou NON"),
         _order_is(OrderStatus.PENDING)),
    Case("order-confirm", COORDINATOR, "COMMANDE 1 OUI", "order", ("Commande #1 confirmée",),
         _order_is(OrderStatus.CONFIRMED, "110")),
    Case("order-reject", COORDINATOR, "commande #1 non", "order", ("Commande #1 refusée",),
         _order_is(OrderStatus.REJECTED, "120")),
    Case("order-confirm-arabic", COORDINATOR, "طلب ١ نعم", "order", ("Commande #1 confirmée",),
         _order_is(OrderStatus.CONFIRMED, "110")),
    Case("order-confirm-english-darija", COORDINATOR, "order 1 wakha", "order",
         ("Commande #1 confirmée",), _order_is(OrderStatus.CONFIRMED)),
    Case("order-by-a-member", AICHA_FR, "COMMANDE 1 OUI", "order",
         ("Réservé aux coordinateurs.",), _order_is(OrderStatus.PENDING)),
    Case("order-not-found", COORDINATOR, "COMMANDE 99 OUI", "order",
         ("Commande #99 introuvable",), _order_is(OrderStatus.PENDING)),
    # language
    Case("language-to-ar", AICHA_FR, "LANGUE AR", "language", ("اللغة: العربية",),
         _language_is(AICHA_FR, "ar")),
    Case("language-to-zgh", AICHA_FR, "langue tamazight", "language", ("Tutlayt: tamazight",),
         _language_is(AICHA_FR, "zgh")),
    Case("language-to-en-in-arabic", KHADIJA_AR, "لغة EN", "language", ("Language: English",),
         _language_is(KHADIJA_AR, "en")),
    Case("language-to-fr-in-tamazight", ITTO_ZGH, "tutlayt francais", "language",
         ("Langue: francais",), _language_is(ITTO_ZGH, "fr")),
    Case("language-unknown", AICHA_FR, "LANGUE XX", "language", ("Écrivez LANGUE FR",),
         _language_is(AICHA_FR, "fr")),
    # opt-out
    Case("stop-fr", AICHA_FR, "STOP", "stop", ("ne recevrez plus",), _opted_out(AICHA_FR)),
    Case("stop-arret-accent", AICHA_FR, "Arrêt", "stop", ("ne recevrez plus",),
         _opted_out(AICHA_FR)),
    Case("stop-ar", KHADIJA_AR, "توقف", "stop", ("لن تتوصلي",), _opted_out(KHADIJA_AR)),
    Case("stop-darija", ITTO_ZGH, "baraka", "stop", ("Ur da ttamzt",), _opted_out(ITTO_ZGH)),
    Case("stop-en", EMMA_EN, "stop", "stop", ("no longer receive",), _opted_out(EMMA_EN)),
    # forgiving matching
    Case("typo-swapped-letters", AICHA_FR, "STCOK", "stock", ("Stock: Huile",)),
    Case("typo-missing-letter", AICHA_FR, "sold", "balance", ("Votre solde",)),
    Case("typo-extra-letter", AICHA_FR, "LIVRAISSON argan 1", "delivery",
         ("Livraison #2",), _pending_delivery("1", "ARGAN")),
    Case("typo-arabic", KHADIJA_AR, "المخزن", "stock", ("المخزون:",)),
    Case("typo-ambiguous-never-stops", AICHA_FR, "STOQ", "unknown", ("Message non compris",)),
    Case("short-word-no-typo", AICHA_FR, "SOP", "unknown", ("Message non compris",)),
    Case("case-spaces-punctuation", AICHA_FR, "  sToCk !!  ", "stock", ("Stock: Huile",)),
    Case("accents", AICHA_FR, "PRÎX", "price", ("Prix payés aux membres",)),
    # French keeps the accents GSM-7 has and folds only what it lacks (ç: français)
    Case("fr-accents-kept-in-gsm7", AICHA_FR, "LIVRAISON ARGAN 5", "delivery",
         ("Livraison #2 enregistrée", "En attente de validation"), _pending_delivery("5", "ARGAN")),
    Case("fr-cedilla-folded", ITTO_ZGH, "tutlayt français", "language", ("Langue: francais.",),
         _language_is(ITTO_ZGH, "fr")),
    Case("fr-usage-accents", AICHA_FR, "LIVRAISON", "delivery",
         ("Écrivez LIVRAISON <produit> <quantité>",), _no_new_delivery),
    # Tamazight replies use the USSD screens' words: lmakhzan, tawuri, lhqq, talbiyt, ayda
    Case("zgh-stock-word", ITTO_ZGH, "LMAKHZAN", "stock", ("Lmakhzan: Tazit n argan",)),
    Case("zgh-delivery-word", ITTO_ZGH, "TAWURI ARGAN 3", "delivery",
         ("Tawuri #2 tttyara: 3 l Tazit n argan. Ar itsna.",), _pending_delivery("3", "ARGAN")),
    Case("zgh-balance-word", ITTO_ZGH, "LHSAB", "balance", ("Lhqq nnm: 0 MAD. Tawuri ar itsna",)),
    Case("zgh-products-word", ITTO_ZGH, "TAWURI SAFRAN 3", "delivery",
         ("Ur nssin ayda a: safran. Ayda: ARGAN, AMLOU",), _no_new_delivery),
    Case("zgh-help-words", ITTO_ZGH, "tawsna", "help", ("LMAKHZAN, ATIG, TAWURI <ayda> <mnck>",)),
    Case("fr-coordinator-word", AICHA_FR, "ALERTE test", "alert", ("Réservé aux coordinateurs.",)),
    # anything else is answered, never dropped
    Case("not-understood-fr", AICHA_FR, "bonjour", "unknown",
         ("Message non compris. Commandes:",)),
    Case("not-understood-ar", KHADIJA_AR, "السلام عليكم", "unknown", ("لم نفهم رسالتك",)),
    Case("not-understood-zgh", ITTO_ZGH, "azul", "unknown", ("Ur nfhim",)),
    Case("not-understood-en", EMMA_EN, "hello there", "unknown", ("Message not understood",)),
    Case("empty", AICHA_FR, "", "empty", ("Commandes: STOCK",)),
    Case("unknown-number", UNKNOWN, "STOCK", "stock",
         ("Numéro inconnu", "*384*123#", "coopérative", "رقم غير مسجل"), member=False),
    Case("5000-characters", AICHA_FR, "x" * 5000, "unknown", ("Message non compris",)),
    Case("nul-character", AICHA_FR, "STOCK\x00", "stock", ("Stock: Huile",)),
]
CASE_IDS = [case.id for case in CASES]
