"""Demo data: an argan and amlou women's cooperative in Souss-Massa."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .db import utcnow
from .models import (
    Account,
    AccountRole,
    Channel,
    Cooperative,
    Language,
    MovementReason,
    Order,
    Product,
    ProductPrice,
    Resolution,
    Role,
)
from .security import hash_password
from .services.deliveries import accept_delivery, record_delivery
from .services.members import add_member
from .services.stock import move_stock

DEMO_SLUG = "demo"
DEMO_PIN = "1234"
#: The dashboard login make run prints; demo data only, never a deployment's.
DEMO_COORDINATOR = "+212600000001"
DEMO_PASSWORD = "argan-demo"

DEMO_MEMBERS = [
    # phone, name, language, role, groups
    ("+212600000001", "Fatima Ait Lahcen", Language.FR, Role.COORDINATOR, ["Aït Baha", "argan"]),
    ("+212600000002", "Khadija Oubella", Language.AR, Role.MEMBER, ["Aït Baha", "amlou"]),
    ("+212600000003", "Itto Amzil", Language.ZGH, Role.MEMBER, ["Tafraout", "argan"]),
    ("+212600000004", "Aicha Bouzid", Language.FR, Role.MEMBER, ["Tafraout", "amlou"]),
]


def database_is_empty(session: Session) -> bool:
    """Whether no cooperative exists yet."""
    return not session.scalar(select(func.count()).select_from(Cooperative))


def seed_demo(session: Session, region: str) -> Cooperative:
    """Create the demo cooperative unless it exists (numbers read in ``region``); return it.

    The caller commits.
    """
    existing = session.scalar(select(Cooperative).where(Cooperative.slug == DEMO_SLUG))
    if existing is not None:
        return existing
    coop = Cooperative(
        slug=DEMO_SLUG,
        name="Coopérative féminine Tifawin (argan et amlou)",
        region="Souss-Massa, Aït Baha",
        default_language=Language.FR,
    )
    session.add(coop)
    session.flush()
    argan = Product(
        cooperative=coop, code="ARGAN", unit="l",
        names={"fr": "Huile d'argan", "ar": "زيت أركان", "zgh": "Tazit n argan",
               "en": "Argan oil"},
        member_price=Decimal("180"), sale_price=Decimal("350"),
    )
    amlou = Product(
        cooperative=coop, code="AMLOU", unit="kg",
        names={"fr": "Amlou", "ar": "أملو", "zgh": "Amlou", "en": "Amlou"},
        member_price=Decimal("120"), sale_price=Decimal("220"),
    )
    session.add_all([argan, amlou])
    session.flush()
    session.add_all([ProductPrice(product=p, member_price=p.member_price, valid_from=utcnow(),
                                  actor_label="seed-demo") for p in (argan, amlou)])

    members = [
        add_member(session, coop, phone, name=name, language=lang, role=role, pin=DEMO_PIN,
                   groups=groups, region=region)
        for phone, name, lang, role, groups in DEMO_MEMBERS
    ]
    coordinator = members[0]
    session.add(Account(phone=coordinator.phone, name=coordinator.name, member=coordinator,
                        role=AccountRole.COORDINATOR, cooperative=coop,
                        password_hash=hash_password(DEMO_PASSWORD)))

    for product, quantity in ((argan, Decimal("120")), (amlou, Decimal("45"))):
        move_stock(session, product, quantity, MovementReason.INITIAL, channel=Channel.SYSTEM,
                   actor_label="seed-demo", note="stock at opening")

    # Khadija delivered amlou last week (accepted, so the cooperative owes her for it).
    past = record_delivery(session, members[1], amlou, Decimal("8"), Channel.USSD)
    accept_delivery(session, past, coordinator, Channel.WEB)

    session.add(Order(
        cooperative=coop, product=argan, buyer_name="Épicerie Bio Agadir",
        buyer_phone="+212528000000", quantity=Decimal("10"), unit_price=argan.sale_price,
    ))
    session.add(Resolution(
        cooperative=coop,
        titles={"fr": "Acheter une presse à huile neuve ?",
                "ar": "هل نشتري معصرة زيت جديدة؟",
                "zgh": "Is ad nsgh tamesrit tamaynut?",
                "en": "Buy a new oil press?"},
        choices={"fr": ["Oui", "Non"], "ar": ["نعم", "لا"], "zgh": ["Ih", "Uhu"],
                 "en": ["Yes", "No"]},
        closes_at=utcnow() + timedelta(days=30),
    ))
    session.flush()
    return coop
