"""One message catalog and one number formatter: the catalog's checks, the formatter's rules,
and the same number written the same way on a USSD screen, in an SMS and on the dashboard."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from menus.catalog import DEFAULT_PATH, build_catalog, packaged, text
from menus.check import check, check_catalog
from menus.languages import LANGUAGES
from menus.model import build_menu
from menus.numbers import money, number, plain
from smsgateway.models import Channel, MovementReason, Order, Product
from smsgateway.services.stock import move_stock
from tests.sms_support import at_form, inbound, replies_to
from tests.ussd_support import Phone

RAW = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
FATIMA, ITTO = "+212600000001", "+212600000003"

NUMBERS = {
    "fr-decimal-comma": (Decimal("7.500"), "fr", "7,5"),
    "ar-decimal-comma": ("7.5", "ar", "7,5"),
    "zgh-decimal-comma": (Decimal("7.5"), "zgh", "7,5"),
    "en-decimal-point": (Decimal("7.5"), "en", "7.5"),
    "whole-without-zeros": (Decimal("120.000"), "fr", "120"),
    "no-thousands-separator": (Decimal("12500.25"), "fr", "12500,25"),
    "no-exponent": (Decimal("1E+3"), "en", "1000"),
    "negative": (Decimal("-2.5"), "zgh", "-2,5"),
    "no-minus-zero": (Decimal("-0.000"), "fr", "0"),
}


@pytest.mark.parametrize("value,lang,expected", NUMBERS.values(), ids=NUMBERS.keys())
def test_numbers_are_written_the_language_s_way(value: Any, lang: str, expected: str) -> None:
    assert number(value, lang) == expected


MONEY = {
    "fr-centimes": (Decimal("12.5"), "fr", "MAD", "12,50 MAD"),
    "ar-names-the-dirham": (Decimal("12.5"), "ar", "MAD", "12,50 درهم"),
    "zgh": (Decimal("960"), "zgh", "MAD", "960 MAD"),
    "en-whole-without-centimes": (Decimal("3500.00"), "en", "MAD", "3500 MAD"),
    "rounded-half-up": ("0.125", "fr", "MAD", "0,13 MAD"),
    "other-currency-by-its-code": (Decimal("5"), "ar", "EUR", "5 EUR"),
}


@pytest.mark.parametrize("value,lang,currency,expected", MONEY.values(), ids=MONEY.keys())
def test_amounts_carry_their_currency(value: Any, lang: str, currency: str,
                                      expected: str) -> None:
    assert money(value, lang, currency) == expected


def test_sessions_keep_numbers_language_free() -> None:
    assert [plain(v) for v in (Decimal("2.50"), 3, "10000", "abc")] == ["2.5", "3", "10000",
                                                                        "abc"]


def test_the_catalog_writes_numbers_and_amounts_for_the_reader() -> None:
    values = {"amount": Decimal("1250.5"), "currency": "MAD", "pending": 2}
    assert text("balance", "fr", **values) == ("Votre solde: 1250,50 MAD. Livraisons en "
                                               "attente: 2.")
    assert text("balance", "en", **values).startswith("Your balance: 1250.50 MAD.")
    assert text("balance", "ar", **values).startswith("رصيدك: 1250,50 درهم.")
    # A signed change keeps its sign; text that is not a number is kept as it is.
    assert "+2,5 kg" in text("sms_stock_adjusted", "fr", product="Amlou", change="+2.5",
                             unit="kg", reason="inventaire", stock="55.5")
    assert "beaucoup" in text("order_short", "fr", id=1, available="beaucoup", unit="kg")


def test_the_catalog_is_read_once_per_process() -> None:
    assert packaged() is packaged()


def test_the_shipped_catalog_has_every_message_in_every_language_within_limits() -> None:
    catalog, problems = build_catalog(copy.deepcopy(RAW))
    assert problems == [] and catalog is not None
    assert [str(f) for f in check_catalog(catalog)] == []
    for entry in catalog.entries.values():
        assert set(entry.texts) == set(entry.langs or LANGUAGES), entry.key


def _broken(change: Any) -> dict[str, Any]:
    raw = copy.deepcopy(RAW)
    change(raw)
    return raw


BROKEN = {
    "missing-translation": (lambda r: r["sms"]["help"].pop("zgh"),
                            "sms.help: missing translation 'zgh'"),
    "placeholder-differs": (lambda r: r["sms"]["balance"].update(ar="رصيدك: {montant}"),
                            "sms.balance.ar: fields ['montant'] differ from fr"),
    "placeholder-missing": (lambda r: r["screen"]["too_big"].update(en="At most."),
                            "screen.too_big.en: fields [] differ from fr ['max']"),
    "unknown-language": (lambda r: r["screen"]["back"].update(de="0 Zurück"),
                         "screen.back: 'de' is not one of"),
    "key-in-two-sections": (lambda r: r["words"].update(back=r["screen"]["back"]),
                            "words.back: also in screen"),
    "segments-on-a-screen": (lambda r: r["screen"]["back"].update(segments=2),
                             "screen.back.segments: a whole number of SMS segments"),
    "unclosed-brace": (lambda r: r["sms"]["stock"].update(fr="Stock: {items"),
                       "sms.stock: a brace is not closed"),
    "unknown-section": (lambda r: r.update(ussd={}), "ussd: not a section"),
    "currency-next-to-an-amount": (
        lambda r: r["sms"]["balance"].update({lang: t.replace("{amount}", "{amount} {currency}")
                                              for lang, t in r["sms"]["balance"].items()}),
        "sms.balance.fr: an amount carries its currency"),
    "field-both-kinds": (lambda r: r["fields"]["money"].append("quantity"),
                         "fields: ['quantity'] both a number and money"),
    "no-fields": (lambda r: r.pop("fields"), "fields.numbers: a list of placeholder names"),
}


@pytest.mark.parametrize("change,problem", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_catalog_is_refused_with_the_reason(change: Any, problem: str) -> None:
    _, problems = build_catalog(_broken(change))
    assert any(problem in p for p in problems), problems


TOO_LONG = {
    "screen-message": (lambda r: r["screen"]["bad_option"].update(fr="Choix " * 40),
                       "error: screen.bad_option.fr: 240 characters, over the 182 of a USSD "
                       "screen"),
    "arabic-screen-message": (lambda r: r["screen"]["bad_option"].update(ar="اختيار " * 12),
                              "over the 80 of a USSD screen"),
    "sms-reply": (lambda r: r["sms"]["stopped"].update(ar="لن تتوصلي بالتنبيهات " * 4),
                  "error: sms.stopped.ar: takes 2 SMS segments, more than the 1 allowed"),
    "latin-outside-gsm7-on-a-screen": (lambda r: r["screen"]["bad_option"].update(fr="Arrêté."),
                                       "warning: screen.bad_option.fr: outside GSM-7"),
}


@pytest.mark.parametrize("change,finding", TOO_LONG.values(), ids=TOO_LONG.keys())
def test_messages_beyond_their_channel_s_limit_are_reported(change: Any, finding: str) -> None:
    catalog, problems = build_catalog(_broken(change))
    assert problems == [] and catalog is not None
    assert any(finding in str(f) for f in check_catalog(catalog)), check_catalog(catalog)


def test_a_screen_adding_a_currency_to_an_amount_is_reported() -> None:
    menu_raw = yaml.safe_load(Path("menus/cooperative.yaml").read_text(encoding="utf-8"))
    texts = menu_raw["screens"]["alert_confirm"]["text"]
    texts.update({lang: t.replace("{cost}", "{cost} {currency}") for lang, t in texts.items()})
    menu, problems = build_menu(menu_raw)
    assert problems == [] and menu is not None
    assert any(str(f).startswith("error: screens.alert_confirm.text.en: an amount carries its "
                                 "currency") for f in check(menu))


def test_a_menu_needs_the_catalog_s_navigation_messages() -> None:
    catalog, _ = build_catalog(_broken(lambda r: r["screen"].pop("back")))
    menu_raw = yaml.safe_load(Path("menus/cooperative.yaml").read_text(encoding="utf-8"))
    _, problems = build_menu(menu_raw, catalog)
    assert "messages.back: missing from the catalog" in problems


@pytest.mark.parametrize("case", ["missing-translation", "placeholder-differs"])
def test_menus_check_fails_on_a_broken_catalog(runner: FlaskCliRunner, tmp_path: Path,
                                               case: str) -> None:
    broken = tmp_path / "texts.yaml"
    broken.write_text(yaml.safe_dump(_broken(BROKEN[case][0]), allow_unicode=True),
                      encoding="utf-8")
    result = runner.invoke(args=["menus", "check", "--texts", str(broken)])
    assert result.exit_code == 1
    assert f"error: {BROKEN[case][1]}" in result.output


def test_menus_check_fails_on_a_broken_dashboard_catalog(runner: FlaskCliRunner,
                                                         tmp_path: Path) -> None:
    broken = tmp_path / "dashboard.yaml"
    broken.write_text('import_why_duplicate: {fr: "{phone} déjà à la ligne {line}", '
                      'ar: "{phone} موجود من قبل", en: "{phone} already on line {line}"}\n'
                      'nav_home: {fr: "Accueil", en: "Home"}\n', encoding="utf-8")
    result = runner.invoke(args=["menus", "check", "--dashboard-texts", str(broken)])
    assert result.exit_code == 1
    assert "error: dashboard text 'import_why_duplicate': placeholders differ" in result.output
    assert "error: dashboard text 'nav_home' has no ar" in result.output


def test_menus_check_checks_the_shipped_catalog(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["menus", "check", "--strict"])
    assert result.exit_code == 0, result.output
    assert f"texts.yaml: {len(packaged().entries)} messages; all within limits" in result.output
    assert "texts.yaml (dashboard): " in result.output


def _sms_reply(client: FlaskClient, session: Session, phone: str, body: str) -> str:
    form = at_form(phone, body)
    assert client.post("/webhooks/africastalking/sms", data=form).status_code == 200
    stored = inbound(session, "africastalking", form["id"])
    assert stored is not None
    [reply] = replies_to(session, stored.id)
    return reply.text


def test_the_same_number_reads_the_same_on_a_screen_in_an_sms_and_on_the_dashboard(
        client: FlaskClient, demo: Any, session: Session) -> None:
    amlou = session.scalars(select(Product).where(Product.code == "AMLOU")).one()
    move_stock(session, amlou, Decimal("2.5"), MovementReason.ADJUSTMENT,
               channel=Channel.WEB, note="test")  # 53 kg -> 55.5 kg
    order = session.scalars(select(Order)).one()
    order.unit_price = Decimal("350.05")  # 10 l: 3500.50
    session.commit()
    level, total = "55,5 kg", "3500,50 MAD"

    fatima = Phone(client, FATIMA)  # a coordinator who reads French
    fatima.dial()
    assert f"Amlou: {level}" in fatima.press("1")
    fatima.press("00")
    fatima.press("7")
    assert total in fatima.press("1")
    assert f"Amlou {level}" in _sms_reply(client, session, FATIMA, "STOCK AMLOU")
    assert total in _sms_reply(client, session, FATIMA, "COMMANDE 1")

    from tests.test_dashboard import _login

    assert _login(client).status_code == 302
    page = client.get("/dashboard").get_data(as_text=True)
    assert level in page and total in page

    # Tamazight writes the decimal comma too, on the screen and in the SMS alike.
    itto = Phone(client, ITTO)
    itto.dial()
    assert f"Amlou: {level}" in itto.press("1")
    assert f"Amlou {level}" in _sms_reply(client, session, ITTO, "STOCK AMLOU")


def test_check_config_hides_every_secret_setting(runner: FlaskCliRunner,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from smsgateway.config import ENV_KEYS, SECRET_KEYS

    secrets = {env: f"postgresql://u:hidden{i}@db/x" if key == "database_url" else f"hidden{i}"
               for i, (env, key) in enumerate(ENV_KEYS.items()) if key in SECRET_KEYS}
    assert len(secrets) == len(SECRET_KEYS)  # every secret comes from the environment
    for env, value in secrets.items():
        monkeypatch.setenv(env, value)
    result = runner.invoke(args=["check-config"])
    assert result.exit_code == 0, result.output
    assert "hidden" not in result.output and result.output.count('"***"') == len(secrets)


def test_every_language_has_its_words_and_its_number_style() -> None:
    from menus.languages import STYLES
    from smsgateway.config import load_settings
    from smsgateway.models import Language
    from smsgateway.sms.keywords import LANGUAGE_WORDS

    assert tuple(Language) == LANGUAGES and tuple(LANGUAGE_WORDS) == LANGUAGES
    assert set(STYLES) == set(LANGUAGES)
    assert tuple(load_settings(environ={}).languages) == LANGUAGES


WORDS = {
    # Arabic reads its own units and currency; a sign stays in front right to left (LRM).
    "ar-units": ("sms_stock_adjusted", "ar", {"product": "أملو", "change": "+2.5", "unit": "kg",
                                              "reason": "جرد", "stock": "55.5"},
                 "تعديل المخزون: أملو \u200e+2,5 كلغ (جرد). المخزون: 55,5 كلغ."),
    "ar-litres-and-dirhams": ("sms_delivery_accepted", "ar",
                              {"delivery": 3, "quantity": "12", "unit": "l",
                               "product": "زيت أركان", "balance": "960"},
                              "تم قبول توريدك 3 (12 لتر زيت أركان). مستحقاتك 960 درهم."),
    "fr-latin-units-kept": ("stock_adjusted", "fr", {"product": "Miel", "stock": "5", "unit": "kg"},
                            "Stock de miel: 5 kg."),
    # French elision: a product lower-cased after d', a name keeps its capital (h not elided).
    "fr-elision-product": ("stock_adjusted", "fr", {"product": "Amlou", "stock": "53",
                                                    "unit": "kg"}, "Stock d'amlou: 53 kg."),
    "fr-elision-h-muet": ("stock_adjusted", "fr", {"product": "Huile d'argan", "stock": "5",
                                                   "unit": "l"}, "Stock d'huile d'argan: 5 l."),
    "fr-elision-code-keeps-capitals": ("stock_adjusted", "fr", {"product": "ARGAN", "stock": "5",
                                                                "unit": "l"},
                                       "Stock d'ARGAN: 5 l."),
    "fr-elision-name": ("delivery_summary", "fr", {"delivery": 2, "member": "Aicha",
                                                   "quantity": "4", "unit": "kg",
                                                   "product": "Amlou", "date": "02/12"},
                        "Livraison 2 d'Aicha: 4 kg Amlou, le 02/12."),
    "fr-no-elision-before-h-of-a-name": ("delivery_summary", "fr",
                                         {"delivery": 2, "member": "Hassan", "quantity": "4",
                                          "unit": "kg", "product": "Amlou", "date": "02/12"},
                                         "Livraison 2 de Hassan: 4 kg Amlou, le 02/12."),
    "en-no-elision": ("stock_adjusted", "en", {"product": "Amlou", "stock": "53", "unit": "kg"},
                      "Stock of Amlou: 53 kg."),
    # French SMS keep the accents GSM-7 has; what it lacks is folded (ç, û).
    "fr-gsm7-accents-kept": ("no_products", "fr", {}, "Aucun produit enregistré."),
    "fr-cedilla-folded": ("language_set", "fr", {}, "Langue: francais."),
    "fr-circumflex-folded": ("started", "fr", {},
                             "Vous recevrez à nouveau les alertes. Envoyez STOP pour les "
                             "arreter."),
}


@pytest.mark.parametrize("key,lang,values,expected", WORDS.values(), ids=WORDS.keys())
def test_words_are_the_reader_s(key: str, lang: str, values: dict[str, Any],
                                expected: str) -> None:
    from menus.encoding import GSM7, encoding_of

    written = text(key, lang, **values)
    assert written == expected
    if lang != "ar":
        assert encoding_of(written) == GSM7


def test_the_arabic_help_sms_fits_one_segment() -> None:
    from menus.encoding import SINGLE_UCS2, measure

    help_ar = text("help", "ar")
    assert measure(help_ar).segments == 1 and len(help_ar) <= SINGLE_UCS2
    # A coordinator's help adds her commands: two segments, said in texts.yaml.
    assert measure(help_ar + " " + text("help_coordinator", "ar")).segments == 2


CUT = {
    # Under a screen's 182 characters, but with the lines and the navigation it pages inside.
    "fr-info-text": ("stock", "fr", "Stock de la coopérative, compté ce matin par la "
                     "coordinatrice avec les membres du bureau, à vérifier avant toute livraison "
                     "nouvelle et toute vente aux clients de la semaine:"),
    "ar-menu-text": ("home", "ar", "مرحبا {name}، هذه قائمة التعاونية، اختاري رقما من "
                     "الأرقام التالية"),
}


@pytest.mark.parametrize("screen,lang,long_text", CUT.values(), ids=CUT.keys())
def test_menus_check_fails_on_a_text_cut_mid_sentence(runner: FlaskCliRunner, tmp_path: Path,
                                                      screen: str, lang: str,
                                                      long_text: str) -> None:
    raw = yaml.safe_load(Path("menus/cooperative.yaml").read_text(encoding="utf-8"))
    raw["screens"][screen]["text"][lang] = long_text
    path = tmp_path / "cooperative.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(args=["menus", "check", "--strict", "--path", str(path)])
    assert result.exit_code == 1
    assert (f"error: screens.{screen}.text.{lang}: fits only cut mid-sentence across pages"
            in result.output), result.output
