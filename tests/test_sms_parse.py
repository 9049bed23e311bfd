"""Reading commands (pure functions) and the reply texts themselves."""

from __future__ import annotations

from decimal import Decimal

import pytest

from smsgateway.sms import keywords, parse
from smsgateway.sms.texts import number


@pytest.mark.parametrize("raw,expected", [
    ("  STOCK  ", "stock"),
    ("Arrêt", "arret"),
    ("PRÎX   argan", "prix argan"),
    ("livraison ٥", "livraison 5"),
    ("livraison ۷", "livraison 7"),
    ("2,5kg", "2,5kg"),
    ("٢٫٥", "2.5"),
    ("d'huile", "d huile"),
    ("أَرْكَان", "اركان"),
    ("طلبية", "طلبيه"),
    ("STOCK!!!", "stock"),
    ("\x00STOCK", "stock"),
    ("", ""),
], ids=["spaces", "accent", "circumflex-spaces", "arabic-digit", "persian-digit",
        "decimal-comma", "arabic-decimal", "apostrophe", "harakat-hamza", "taa-marbuta",
        "punctuation", "nul", "empty"])
def test_normalize(raw: str, expected: str) -> None:
    assert parse.normalize(raw) == expected


@pytest.mark.parametrize("a,b,distance", [
    ("stock", "stock", 0), ("stock", "stcok", 1), ("stock", "stok", 1), ("stock", "stocks", 1),
    ("stock", "stack", 1), ("stock", "stop", 2), ("solde", "stock", 2),
], ids=["same", "swap", "deletion", "insertion", "substitution", "two", "far"])
def test_typo_distance(a: str, b: str, distance: int) -> None:
    assert parse.typo_distance(a, b) == distance


def test_every_keyword_names_one_command() -> None:
    owners: dict[str, str] = {}
    for name, words in keywords.KEYWORDS.items():
        for word in words:
            key = parse.normalize(word)
            assert key, f"{word!r} normalizes to nothing"
            assert owners.setdefault(key, name) == name, f"{word!r}: {owners[key]} and {name}"


def _one_typo_away(word: str, alphabet: str) -> set[str]:
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return ({a + b[1:] for a, b in splits if b}
            | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
            | {a + c + b[1:] for a, b in splits if b for c in alphabet}
            | {a + c + b for a, b in splits for c in alphabet})


def test_a_slip_on_another_keyword_never_unsubscribes() -> None:
    # At worst it is ambiguous, not understood, and answered with the help text.
    stops = {parse.normalize(w) for w in keywords.KEYWORDS["stop"]}
    alphabet = "".join(sorted(set("".join(stops))))
    for name, words in keywords.KEYWORDS.items():
        if name == "stop":
            continue
        for word in map(parse.normalize, words):
            for slip in _one_typo_away(word, alphabet) - stops:
                if not any(parse.typo_distance(slip, stop) <= 1 for stop in stops):
                    continue
                assert parse.parse(slip).name != "stop", (word, name, slip)


@pytest.mark.parametrize("text,name,args", [
    ("STOCK", "stock", ()),
    ("stok argan", "stock", ("argan",)),
    ("LIVRAISON ARGAN 5", "delivery", ("argan", "5")),
    ("Livraison: argan, 5", "delivery", ("argan", "5")),
    ("STOQ", "unknown", ("stoq",)),
    ("AIDR", "help", ()),
    ("alerte   Réunion demain", "alert", ("reunion", "demain")),
    ("", "empty", ()),
    ("STPO", "stop", ()),
    ("ouit", "unknown", ("ouit",)),
    ("ARRTE", "stop", ()),
], ids=["keyword", "typo-with-args", "delivery", "punctuation", "ambiguous", "typo-4-letters",
        "alert", "empty", "stop-typo", "stop-typo-near-oui-is-not-stop", "arret-typo"])
def test_parse(text: str, name: str, args: tuple[str, ...]) -> None:
    command = parse.parse(text)
    assert (command.name, command.args) == (name, args)


def test_alert_text_is_kept_as_written() -> None:
    assert parse.parse("ALERTE  Réunion à 10h, venez!").rest == "Réunion à 10h, venez!"
    assert parse.parse("alerte:Crue ce soir").rest == "Crue ce soir"


@pytest.mark.parametrize("word,value", [
    ("5", Decimal("5")), ("2,5", Decimal("2.5")), ("2.5", Decimal("2.5")),
    ("5kg", Decimal("5")), ("3l", Decimal("3")), ("cinq", None), ("5abc", None),
], ids=["int", "comma", "dot", "kg-suffix", "l-suffix", "word", "junk-suffix"])
def test_number(word: str, value: Decimal | None) -> None:
    assert parse.number(word) == value


def test_products_match_by_code_name_word_and_typo() -> None:
    aliases = parse.product_aliases([
        (1, "ARGAN", {"fr": "Huile d'argan", "ar": "زيت أركان", "en": "Argan oil"}),
        (2, "AMLOU", {"fr": "Amlou", "ar": "أملو"}),
        (3, "OLIVE", {"fr": "Huile d'olive", "en": "Olive oil"}),
    ])
    match = parse.match_product
    assert match(["argan"], aliases) == [1]
    assert match(["huile", "d", "argan"], aliases) == [1]
    assert match([parse.normalize("أركان")], aliases) == [1]
    assert match(["amlu"], aliases) == [2]
    assert match(["huile"], aliases) == []  # shared by two products: names neither
    assert match(["safran"], aliases) == []


def test_numbers_are_written_as_members_write_them() -> None:
    assert number(Decimal("120.000"), "fr") == "120"
    assert number(Decimal("2.500"), "fr") == "2,5"
    assert number(Decimal("2.500"), "en") == "2.5"


@pytest.mark.parametrize("text,name", [
    ("MENU", "help"), ("AWS", "help"), ("3AWNI", "help"), ("SELA3", "stock"),
    ("TARIF argan", "price"), ("سعر", "price"), ("TAMAN", "price"), ("JBT ARGAN 5", "delivery"),
    ("AWIGH ARGAN 5", "delivery"), ("COMPTE", "balance"), ("حسابي", "balance"),
    ("HSAB", "balance"), ("LOUGHA EN", "language"), ("TUTLAYT ZGH", "language"),
    ("وقف", "stop"), ("HBES", "stop"), ("UNSUBSCRIBE", "stop"), ("BDU", "start"),
    ("RJE3", "start"), ("RESUME", "start"), ("KOMANDA 12 WAH", "order"),
    ("TANBIH crue", "alert"), ("AVIS réunion", "notice"), ("ANNONCE réunion", "notice"),
    ("إعلان اجتماع", "notice"), ("I3LAN", "notice"), ("ALGHU", "notice"), ("NOTICE", "notice"),
    ("WAKHA", "yes"), ("UHU", "no"),
], ids=lambda value: str(value))
def test_readme_examples(text: str, name: str) -> None:
    assert parse.parse(text).name == name


@pytest.mark.parametrize("word,code", [
    ("francais", "fr"), ("darija", "ar"), ("tachelhit", "zgh"), ("english", "en"), ("3", "zgh"),
    ("tamazigt", "zgh"), ("xx", None),
], ids=["francais", "darija", "tachelhit", "english", "number", "typo", "unknown"])
def test_language_words(word: str, code: str | None) -> None:
    assert parse.language(word) == code
