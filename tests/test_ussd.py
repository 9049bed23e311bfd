"""USSD sessions played as dial transcripts through the webhook (text in, screen out)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smsgateway import sessions
from smsgateway.models import (
    AuditLog,
    Broadcast,
    Delivery,
    DeliveryStatus,
    JoinRequest,
    Language,
    Member,
    OutboundMessage,
    OutboundStatus,
    Product,
    Vote,
)
from smsgateway.redisconn import get_redis
from smsgateway.services.members import add_member
from smsgateway.services.stock import stock_level
from tests.ussd_support import URL, Phone

FATIMA, KHADIJA, ITTO, AICHA = (f"+21260000000{i}" for i in range(1, 5))
FATIMA_AR = "+212600000008"
JOHN = "+212600000009"
STRANGER = "+212611223344"


@pytest.fixture
def coop(demo: Any, session: Session) -> Any:
    """The demo cooperative plus an English-speaking member and an Arabic-reading coordinator."""
    add_member(session, demo, JOHN, region="MA", name="John Smith", language="en", pin="4321")
    add_member(session, demo, FATIMA_AR, region="MA", name="Fatima Amrani", language="ar",
               role="coordinator", pin="4321")
    session.commit()
    return demo


def count(session: Session, model: Any, *where: Any) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def play(client: FlaskClient, number: str, transcript: list[tuple[str, str]]) -> Phone:
    """Dial, then type each input; every answer must contain the expected fragment."""
    phone = Phone(client, number)
    for index, (typed, expected) in enumerate(transcript):
        body = phone.dial(typed[1:]) if typed.startswith("#") else phone.press(typed)
        assert expected in body, f"step {index} ({typed!r}): {expected!r} not in {body!r}"
    return phone


# Each transcript: "#" dials (what follows is a dial string), anything else is typed.
TRANSCRIPTS = {
    "fr-stock-back-prices-home": (AICHA, [
        ("#", "CON Bonjour Aicha\n1 Stock"),
        ("1", "Huile d'argan: 120 l\nAmlou: 53 kg\n0 Retour"),
        ("0", "CON Bonjour Aicha"),
        ("4", "Huile d'argan: 180 MAD/l"),
        ("00", "CON Bonjour Aicha"),
    ]),
    "fr-member-cannot-see-coordinator-options": (AICHA, [
        ("#", "6 Langue"),
        ("7", "CON Choix inconnu.\nBonjour Aicha"),
        ("42", "Choix inconnu."),
        ("98", "Pas d'autre page."),
        ("abc", "Choix inconnu."),
    ]),
    "ar-home-pages-and-balance": (KHADIJA, [
        ("#", "CON مرحبا Khadija\n1 المخزون"),
        ("98", "5 التصويت\n6 اللغة"),
        ("0", "1 المخزون"),
        ("3", "مستحقاتك: 960 درهم"),
        ("0", "مرحبا Khadija"),
    ]),
    "zgh-delivery-with-wrong-inputs": (ITTO, [
        ("#", "CON Azul Itto\n1 Lmakhzan"),
        ("2", "Mad tiwit?\n1 Tazit n argan\n2 Amlou\n0 Urri"),
        ("2", "Mnck n Amlou s kg?"),
        ("abc", "Ari yan umdan, am 12 nigh 2,5.\nMnck n Amlou s kg?"),
        ("", "Ur tarit yat."),
        ("99999", "Ugar n 10000 ur yuckin."),
        ("0", "Mad tiwit?"),
        ("2", "Mnck n Amlou s kg?"),
        ("7,5", "7,5 kg Amlou. Ari PIN nnm:"),
        ("12", "PIN gis 4 n wuttunen."),
        ("1234", "END Tawuri"),
    ]),
    "en-vote": (JOHN, [
        ("#", "CON Hello John"),
        ("5", "Open votes:\n1 Buy a new oil press?"),
        ("1", "Buy a new oil press?\n1 Yes\n2 No"),
        ("3", "No such choice."),
        ("2", "END Vote recorded: No."),
    ]),
    "dial-string-goes-straight-to-stock": (AICHA, [
        ("#1", "CON Stock de la coopérative:\nHuile d'argan: 120 l"),
        ("0", "Bonjour Aicha"),
    ]),
    "ar-delivery-quantity-too-small": (KHADIJA, [
        ("#", "مرحبا"),
        ("2", "ما المنتوج الذي تورده؟"),
        ("1", "كمية زيت أركان (لتر)؟"),
        ("0,0001", "اكتب رقما"),
        ("0.0001", "اكتب رقما"),
        ("0", "ما المنتوج"),
    ]),
    # Arabic keypads type Eastern Arabic digits and the Arabic decimal sign: read in options,
    # quantities and PINs as in SMS; the quantity is echoed with a decimal comma.
    "ar-eastern-digits-in-option-quantity-and-pin": (KHADIJA, [
        ("#", "مرحبا"),
        ("٢", "ما المنتوج الذي تورده؟"),
        ("١", "كمية زيت أركان (لتر)؟"),
        ("٢٫٥", "2,5 لتر زيت أركان. أدخل الرمز السري"),
        ("١٢٣٤", "END تم تسجيل التوريد"),
    ]),
    "ar-decimal-comma-echoed": (KHADIJA, [
        ("#", "مرحبا"), ("2", "ما المنتوج"), ("2", "كمية أملو (كلغ)؟"),
        ("٧,٥", "7,5 كلغ أملو."),
    ]),
    "fr-decimal-comma-echoed": (AICHA, [
        ("#", "Bonjour"), ("2", "Quel produit"), ("2", "en kg ?"),
        ("2,5", "2,5 kg Amlou. Tapez votre PIN"),
        ("1234", "END Livraison"),
    ]),
    "fr-eastern-digits-read-too": (AICHA, [("#", "Bonjour"), ("١", "Stock de la coop")]),
    "ar-stock-in-arabic-units": (KHADIJA, [
        ("#", "مرحبا"), ("1", "زيت أركان: 120 لتر\nأملو: 53 كلغ"),
    ]),
    # 98 on the last page says there is none and stays; 0 back on every page after the first.
    "ar-more-on-the-last-page-stays": (FATIMA_AR, [
        ("#", "مرحبا Fatima\n1 المخزون"),
        ("98", "4 الأثمنة\n5 التصويت"),
        ("98", "9 تعديل المخزون\n10 تنبيه سريع\n11 رمزي السري\n12 النتائج\n0 رجوع"),
        ("98", "لا صفحة أخرى.\n9 تعديل المخزون\n10 تنبيه سريع\n11 رمزي السري\n"
               "12 النتائج\n0 رجوع"),
        ("0", "4 الأثمنة\n5 التصويت\n6 اللغة\n7 الطلبيات\n8 توريدات للقبول\n98 المزيد\n0 رجوع"),
        ("0", "CON مرحبا Fatima\n1 المخزون"),
    ]),
    "fr-more-on-a-single-page-stays": (AICHA, [
        ("#", "Bonjour Aicha"), ("98", "CON Pas d'autre page.\nBonjour Aicha\n1 Stock"),
    ]),
    # A screen that only informs offers 00 home, in every language.
    "fr-stock-offers-home": (AICHA, [
        ("#", "Bonjour"), ("1", "Amlou: 53 kg\n0 Retour\n00 Accueil"), ("00", "CON Bonjour Aicha"),
    ]),
    "ar-balance-offers-home": (KHADIJA, [
        ("#", "مرحبا"), ("3", "0 رجوع\n00 الرئيسية"), ("00", "CON مرحبا Khadija"),
    ]),
    "zgh-prices-offer-home": (ITTO, [
        ("#", "Azul"), ("4", "Amlou: 120 MAD/kg\n0 Urri\n00 Tazwara"), ("00", "CON Azul Itto"),
    ]),
    "en-stock-offers-home": (JOHN, [
        ("#", "Hello"), ("1", "Amlou: 53 kg\n0 Back\n00 Home"), ("00", "CON Hello John"),
    ]),
    "ar-prices-in-dirhams-per-litre": (KHADIJA, [
        ("#", "مرحبا"), ("4", "زيت أركان: 180 درهم/لتر"),
    ]),
}


def test_a_guest_who_types_a_wrong_key_sees_her_only_option(client: FlaskClient,
                                                             coop: Any) -> None:
    phone = play(client, STRANGER, [("#", "Numéro non inscrit."),
                                    ("5", "CON Choix inconnu.\nاختيار غير موجود.\n1 Demander "
                                          "l'adhésion / طلب الانضمام")])
    assert "98" not in phone.press("7")


@pytest.mark.parametrize("lang,key", [("fr", "1"), ("ar", "3"), ("zgh", "4"), ("en", "1")])
def test_a_screen_only_read_is_not_offered_again(client: FlaskClient, coop: Any,
                                                 session: Session, lang: str, key: str) -> None:
    number = {"fr": AICHA, "ar": KHADIJA, "zgh": ITTO, "en": JOHN}[lang]
    phone = Phone(client, number)
    phone.dial()
    assert "00 " in phone.press(key)  # stock, balance or prices, then she hangs up
    home = phone.dial()
    assert home.startswith("CON ") and "1 " in home and "2 " in home
    assert all(word not in home for word in ("Reprendre", "هل تكمل", "Is tram", "Continue"))


@pytest.mark.parametrize("number,transcript", TRANSCRIPTS.values(), ids=TRANSCRIPTS.keys())
def test_transcript(client: FlaskClient, coop: Any, number: str,
                    transcript: list[tuple[str, str]]) -> None:
    play(client, number, transcript)


def test_recorded_delivery_is_pending_and_confirmed_by_sms(
        client: FlaskClient, coop: Any, session: Session, run_jobs: Any) -> None:
    play(client, ITTO, [("#", "Azul"), ("2", "Mad"), ("2", "Amlou"), ("7,5", "PIN"),
                        ("1234", "END")])
    delivery = session.scalars(select(Delivery).where(Delivery.status ==
                                                      DeliveryStatus.PENDING)).one()
    assert delivery.quantity == Decimal("7.5") and delivery.member.phone == ITTO
    sms = session.scalars(select(OutboundMessage)).one()
    assert sms.to_phone == ITTO and sms.kind == "confirmation"
    assert sms.text.startswith(f"Tawuri #{delivery.id} tttyara: 7,5 kg Amlou")
    run_jobs()
    session.expire_all()
    assert session.get(OutboundMessage, sms.id).status == OutboundStatus.DELIVERED


def test_a_resent_hop_returns_the_same_screen_without_a_second_delivery(
        client: FlaskClient, coop: Any, session: Session) -> None:
    phone = play(client, AICHA, [("#", "Bonjour"), ("2", "produit"), ("1", "Quantit"),
                                 ("5", "PIN")])
    first = phone.press("1234")
    again = phone.post("2*1*5*1234")
    late = phone.post("2*1")  # an earlier hop arriving late
    assert first.startswith("END Livraison") and again == first and late == first
    assert count(session, Delivery) == 2  # the demo's one plus this one
    assert count(session, OutboundMessage) == 1


def test_a_hop_that_does_not_follow_restarts_at_home(client: FlaskClient, coop: Any) -> None:
    phone = play(client, AICHA, [("#", "Bonjour"), ("2", "produit")])
    assert phone.post("4*4").startswith("CON Bonjour Aicha")


def test_three_wrong_pins_lock_sensitive_actions(
        client: FlaskClient, coop: Any, session: Session) -> None:
    to_pin = [("#", "Bonjour"), ("2", "produit"), ("1", "Quantit"), ("5", "PIN")]
    play(client, AICHA, [*to_pin, ("1111", "CON PIN incorrect. Encore 2 essai(s)."),
                         ("2222", "PIN incorrect. Encore 1 essai(s)."),
                         ("3333", "END Trop de PIN faux. Réessayez dans 15 min.")])
    play(client, AICHA, [*to_pin, ("1234", "END Trop de PIN faux")])
    assert count(session, Delivery) == 1  # only the demo's
    # Another member is not locked by Aicha's mistakes.
    play(client, ITTO, [("#", "Azul"), ("2", "Mad"), ("1", "Mnck"), ("3", "PIN"),
                        ("1234", "END Tawuri")])


def test_a_right_pin_resets_the_count_of_wrong_ones(client: FlaskClient, coop: Any) -> None:
    to_pin = [("#", "Bonjour"), ("2", "produit"), ("1", "Quantit"), ("5", "PIN")]
    play(client, AICHA, [*to_pin, ("1111", "Encore 2"), ("2222", "Encore 1"),
                         ("1234", "END Livraison")])
    play(client, AICHA, [*to_pin, ("1111", "Encore 2")])


def test_redialling_after_a_drop_offers_to_continue(client: FlaskClient, coop: Any) -> None:
    play(client, AICHA, [("#", "Bonjour"), ("2", "produit"), ("1", "Quantité d'huile")])
    play(client, AICHA, [("#", "CON Reprendre là où vous étiez ?\n1 Continuer\n2 Recommencer"),
                         ("1", "CON Quantité d'huile d'argan en l ?"),
                         ("0", "Quel produit livrez-vous ?")])
    play(client, AICHA, [("#", "Reprendre"), ("2", "CON Bonjour Aicha")])
    play(client, AICHA, [("#", "CON Bonjour Aicha")])  # starting over forgot the drop


def test_a_finished_session_is_not_offered_again(client: FlaskClient, coop: Any) -> None:
    play(client, AICHA, [("#", "Bonjour"), ("2", "produit"), ("1", "Quantit"), ("5", "PIN"),
                         ("1234", "END")])
    play(client, AICHA, [("#", "CON Bonjour Aicha")])


def test_unknown_number_can_ask_to_join(client: FlaskClient, coop: Any,
                                        session: Session) -> None:
    for _ in range(2):
        play(client, STRANGER, [
            ("#", "CON Numéro non inscrit.\nالرقم غير مسجل.\n1 Demander l'adhésion"),
            ("2", "Choix inconnu.\nاختيار غير موجود."),
            ("1", "END Demande envoyée au coordinateur.\nأرسلنا طلبك إلى المنسق."),
        ])
    request = session.scalars(select(JoinRequest)).one()
    assert request.phone == STRANGER and request.cooperative_id == coop.id


def test_coordinator_confirms_an_order_with_enough_stock(
        client: FlaskClient, coop: Any, session: Session) -> None:
    play(client, FATIMA, [
        ("#", "10 Alerte rapide"),
        ("7", "Commandes en attente:\n1 10 l Huile d'argan - Épicerie Bio Agadir"),
        ("1", "Commande 1: 10 l Huile d'argan pour Épicerie Bio Agadir, 3500 MAD. "
              "Stock: 120 l.\n1 Confirmer\n2 Refuser"),
        ("1", "tapez votre PIN"),
        ("1234", "END Commande 1 confirmée, stock réservé."),
    ])
    argan = session.scalars(select(Product).where(Product.code == "ARGAN")).one()
    assert stock_level(session, argan.id) == Decimal("110")
    sms = session.scalars(select(OutboundMessage)).one()
    assert sms.to_phone == FATIMA and sms.text.startswith("Commande #1 confirmée: 10 l Huile")
    play(client, FATIMA, [("#", "Bonjour"), ("7", "Aucune commande en attente.")])


def test_coordinator_is_told_when_stock_is_short(
        client: FlaskClient, coop: Any, session: Session) -> None:
    play(client, FATIMA, [("#", "Bonjour"), ("9", "Quel produit"), ("1", "Huile d'argan:"),
                          ("2", "Quantité en l"), ("115", "Motif"), ("2", "PIN"),
                          ("1234", "END Stock d'huile d'argan: 5 l.")])
    play(client, FATIMA, [("#", "Bonjour"), ("7", "Commandes"), ("1", "Stock: 5 l."),
                          ("1", "PIN"),
                          ("1234", "CON Stock insuffisant: 5 l en stock, 10 l demandés.\n"
                                   "Rien n'a été changé.\n0 Retour"),
                          ("0", "Bonjour Fatima")])
    argan = session.scalars(select(Product).where(Product.code == "ARGAN")).one()
    assert stock_level(session, argan.id) == Decimal("5")
    play(client, FATIMA, [("#", "Bonjour"), ("7", "1 10 l Huile d'argan")])  # still pending


def test_coordinator_accepts_a_delivery_and_the_member_is_told(
        client: FlaskClient, coop: Any, session: Session) -> None:
    play(client, AICHA, [("#", "Bonjour"), ("2", "produit"), ("2", "d'amlou"), ("4", "PIN"),
                         ("1234", "END Livraison")])
    play(client, FATIMA, [("#", "Bonjour"), ("8", "Livraisons en attente:\n1 Aicha Bouzid: "
                                                  "4 kg Amlou"),
                          ("1", "d'Aicha Bouzid: 4 kg Amlou"), ("1", "PIN"),
                          ("1234", "END Livraison 2 acceptée et mise en stock.")])
    texts = [m.text for m in session.scalars(select(OutboundMessage).where(
        OutboundMessage.to_phone == AICHA).order_by(OutboundMessage.id))]
    assert texts[-1] == ("Votre livraison 2 (4 kg Amlou) est acceptée. On vous doit 480 MAD.")
    play(client, AICHA, [("#", "Bonjour"), ("3", "On vous doit: 480 MAD")])


def test_a_member_can_change_her_vote(client: FlaskClient, coop: Any,
                                      session: Session) -> None:
    play(client, JOHN, [("#", "Hello"), ("5", "Open"), ("1", "oil press"), ("1", "Yes")])
    play(client, JOHN, [("#", "Hello"), ("5", "Open"), ("1", "1 Yes *\n2 No"),
                        ("2", "END Vote recorded: No.")])
    vote = session.scalars(select(Vote)).one()
    assert vote.choice == 1


def test_language_change_is_kept(client: FlaskClient, coop: Any, session: Session) -> None:
    play(client, AICHA, [("#", "Bonjour"), ("6", "1 Français\n2 العربية"),
                         ("2", "END تم حفظ اللغة.")])
    assert session.scalars(select(Member).where(Member.phone == AICHA)).one().language == (
        Language.AR)
    play(client, AICHA, [("#", "CON مرحبا Aicha")])


def test_end_of_session_notification_is_recorded_and_drops_the_state(
        app: Flask, client: FlaskClient, coop: Any, session: Session) -> None:
    phone = play(client, AICHA, [("#", "Bonjour"), ("2", "produit")])
    response = client.post(f"{URL}/events", data={
        "sessionId": phone.session_id, "phoneNumber": AICHA, "status": "Success",
        "hopsCount": "2", "durationInMillis": "5300", "serviceCode": "*384*123#"})
    assert response.status_code == 200
    entry = session.scalars(select(AuditLog).where(AuditLog.action == "ussd.session_end")).one()
    assert entry.details["session_id"] == phone.session_id and entry.details["hops"] == 2
    # The state is gone, and a session that ended well is not offered for resuming.
    with app.app_context():
        assert sessions.load(get_redis(app), phone.session_id) is None
    play(client, AICHA, [("#", "CON Bonjour Aicha")])
    assert client.post(f"{URL}/events", data={"status": "Failed"}).status_code == 400


def test_malformed_callback_gets_a_short_end_screen(client: FlaskClient, coop: Any) -> None:
    response = client.post(URL, data={"text": "1"})
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith("END ")


def test_callbacks_need_the_secret_when_one_is_set(make_app: Any, coop: Any) -> None:
    app: Flask = make_app(africastalking={"webhook_secret": "s3cret"})
    client = app.test_client()
    form = {"sessionId": "x1", "phoneNumber": AICHA, "text": ""}
    assert client.post(URL, data=form).status_code == 403
    assert client.post(f"{URL}?secret=wrong", data=form).status_code == 403
    assert client.post(f"{URL}/events", data=form).status_code == 403
    ok = client.post(f"{URL}?secret=s3cret", data=form)
    assert ok.status_code == 200 and ok.get_data(as_text=True).startswith("CON Bonjour")


def test_quick_alert_is_handed_to_the_broadcast_queue(
        client: FlaskClient, coop: Any, session: Session, run_jobs: Any) -> None:
    play(client, FATIMA, [
        ("#", "Bonjour"),
        ("10", "Alerte à tous les membres:\n1 Réunion demain\n2 Collecte annulée"),
        ("3", "CON 6 membres, pour 0 MAD. PIN pour envoyer:"),
        ("0000", "PIN incorrect. Encore 2"),
        ("1234", "END Alerte en cours d'envoi à 6 membres."),
    ])
    broadcast = session.scalars(select(Broadcast)).one()
    assert broadcast.urgent and broadcast.channel == "ussd" and broadcast.recipients == 6
    assert broadcast.texts["fr"].startswith("Alerte météo")
    # Nothing of the alert itself is sent inside the hop: only the coordinator's receipt.
    assert count(session, OutboundMessage, OutboundMessage.broadcast_id.is_not(None)) == 0
    run_jobs()
    alerts = session.scalars(select(OutboundMessage).where(
        OutboundMessage.broadcast_id == broadcast.id)).all()
    assert sorted(m.to_phone for m in alerts) == sorted(
        [FATIMA, KHADIJA, ITTO, AICHA, JOHN, FATIMA_AR])
    by_phone = {m.to_phone: m.text for m in alerts}
    assert by_phone[KHADIJA].startswith("تنبيه") and by_phone[ITTO].startswith("Ahdar")


def test_a_dropped_session_keeps_its_resume_offer(client: FlaskClient, coop: Any) -> None:
    phone = play(client, AICHA, [("#", "Bonjour"), ("2", "produit")])
    response = client.post(f"{URL}/events", data={
        "sessionId": phone.session_id, "phoneNumber": AICHA, "status": "Incomplete"})
    assert response.status_code == 200
    play(client, AICHA, [("#", "Reprendre"), ("1", "Quel produit livrez-vous ?")])


def test_a_state_from_an_older_menu_starts_over(app: Flask, client: FlaskClient,
                                                coop: Any) -> None:
    phone = play(client, AICHA, [("#", "Bonjour"), ("2", "produit")])
    with app.app_context():
        client_redis = get_redis(app)
        stored = sessions.load(client_redis, phone.session_id)
        assert stored is not None
        stored.state["screen"] = "a_screen_a_deploy_removed"
        client_redis.set(sessions.SESSION_KEY.format(phone.session_id),
                         json.dumps(stored.as_dict()))
    assert phone.press("1").startswith("CON Stock de la coopérative:")  # from home
    with app.app_context():
        get_redis(app).set(sessions.RESUME_KEY.format(AICHA), json.dumps({"screen": "gone"}))
    play(client, AICHA, [("#", "CON Bonjour Aicha")])


def test_a_copy_arriving_while_the_first_runs_gets_the_stored_screen(
        app: Flask, client: FlaskClient, coop: Any, session: Session,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions, "HOP_WAIT_SECONDS", 0.1)
    phone = play(client, AICHA, [("#", "Bonjour"), ("2", "produit"), ("1", "Quantit")])
    with app.app_context():  # the first copy of the next hop holds the session's lock
        get_redis(app).set(sessions.HOP_LOCK_KEY.format(phone.session_id), "first", px=5000)
    assert phone.post("2*1").startswith("CON Quantité d'huile")  # what is stored
    busy = phone.post("2*1*5")  # not handled yet: ask to redial, change nothing
    assert busy.startswith("END Patientez")
    assert count(session, Delivery) == 1


def test_the_menu_asks_for_no_more_than_the_services_allow() -> None:
    from smsgateway.services.deliveries import MAX_DELIVERY_QUANTITY
    from smsgateway.services.stock import MAX_ADJUSTMENT
    from smsgateway.ussd import get_menu

    screens = get_menu().screens
    assert Decimal(str(screens["deliver_qty"].max)) == MAX_DELIVERY_QUANTITY
    assert Decimal(str(screens["adjust_qty"].max)) == MAX_ADJUSTMENT


def test_the_delivery_limit_holds_even_past_the_quantity_screen(
        app: Flask, client: FlaskClient, coop: Any, session: Session) -> None:
    phone = play(client, AICHA, [("#", "Bonjour"), ("2", "produit"), ("1", "Quantit"),
                                 ("5", "PIN")])
    with app.app_context():  # a state from before a lower limit, or a bug: 99999 stored
        client_redis = get_redis(app)
        stored = sessions.load(client_redis, phone.session_id)
        assert stored is not None
        stored.state["vars"]["quantity"] = "99999"
        client_redis.set(sessions.SESSION_KEY.format(phone.session_id),
                         json.dumps(stored.as_dict()))
    assert "Maximum 10000." in phone.press("1234")
    assert count(session, Delivery) == 1  # only the demo's


def test_every_action_the_menu_names_is_built_and_none_is_defined_twice() -> None:
    """The table comes from the action modules; the menu calls nothing outside it."""
    from types import ModuleType

    from smsgateway import actions, ussd
    from smsgateway.actions.base import action

    menu = ussd.get_menu()
    named = {name for screen in menu.screens.values() for name in (screen.load, screen.do)
             if name} | {option.do for screen in menu.screens.values()
                         for option in screen.options if option.do}
    assert named <= set(ussd.ACTIONS)
    twice = ModuleType("twice")
    twice.stock_levels = action("stock_levels")(lambda ctx, call: None)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="stock_levels"):
        actions.build_actions((*actions.MODULES, twice))
