"""The menu model, its checks, paging and the pure state machine (no database, no Redis)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask.testing import FlaskCliRunner

from menus import machine
from menus.check import SAMPLES, check, render_all, sample_state
from menus.encoding import length, screen_limit
from menus.model import DEFAULT_PATH, build_menu, load_menu
from menus.paging import paginate, wrap
from smsgateway.sessions import classify

MENU = load_menu()
RAW = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
LOREM = ("Les membres de la coopérative se réunissent demain matin pour parler du prix de "
         "l'huile d'argan, de la collecte des amandes et du nouveau local de stockage.")
ARABIC = "يجتمع أعضاء التعاونية غدا صباحا لمناقشة ثمن زيت الأركان وجمع اللوز والمخزن الجديد."


def test_the_shipped_menu_is_valid_and_every_page_fits() -> None:
    assert [str(f) for f in check(MENU)] == []


@pytest.mark.parametrize(
    "screen_id,lang,role,page,text", render_all(MENU),
    ids=[f"{s}-{lang}-{role}-p{page + 1}" for s, lang, role, page, _ in render_all(MENU)])
def test_every_screen_in_every_language_fits_its_encoding(
        screen_id: str, lang: str, role: str, page: int, text: str) -> None:
    assert text.strip()
    assert length(text) <= screen_limit(text)
    assert "{" not in text  # every field was filled


def _broken(change: Any) -> dict[str, Any]:
    raw = copy.deepcopy(RAW)
    change(raw)
    return raw


BROKEN = {
    "dangling-goto": (lambda r: r["screens"]["stock"].update(goto="nowhere"),
                      "screens.stock: goto 'nowhere' is dangling"),
    "unreachable": (lambda r: r["screens"].update(orphan={"type": "end", "text": "x"}),
                    "screens.orphan: unreachable"),
    "missing-translation": (lambda r: r["screens"]["prices"]["text"].pop("zgh"),
                            "screens.prices.text: missing translation 'zgh'"),
    "field-differs": (lambda r: r["screens"]["deliver_qty"]["text"].update(ar="{maximum}"),
                      "screens.deliver_qty.text.ar: fields ['maximum'] differ"),
    "messages-in-menu": (lambda r: r.update(messages={"back": "0"}),
                         "messages: not in a menu file"),
    "menu-without-options": (lambda r: r["screens"]["language"].update(options=[]),
                             "screens.language: a menu needs options"),
    "pin-stored": (lambda r: r["screens"]["deliver_pin"].update(store="pin"),
                   "a PIN is never stored"),
    "duplicate-keys": (lambda r: r["screens"]["home"]["options"][1].update(key="1"),
                       "screens.home.options: duplicate keys"),
    "unknown-type": (lambda r: r["screens"]["stock"].update(type="video"),
                     "screens.stock.type: must be one of"),
    "no-home": (lambda r: r.update(homes={}), "homes: needs a 'member' home screen"),
    "missing-failed": (lambda r: r["screens"].pop("failed"), "screens.failed: missing"),
}


@pytest.mark.parametrize("change,problem", BROKEN.values(), ids=BROKEN.keys())
def test_broken_menus_are_refused_with_the_reason(change: Any, problem: str) -> None:
    _, problems = build_menu(_broken(change))
    assert any(problem in p for p in problems), problems


def test_an_over_long_word_is_reported_by_the_check() -> None:
    raw = _broken(lambda r: r["screens"]["prices"]["text"].update(
        fr="Prix " + "x" * 200))
    menu, problems = build_menu(raw)
    assert problems == [] and menu is not None
    assert any("screens.prices.text.fr" in str(f) and "longer than a screen" in str(f)
               for f in check(menu))


PAGING = {
    "french-text": (LOREM * 3, [], 182),
    "arabic-text": (ARABIC * 3, [], 80),
    "list-of-lines": ("Choisissez:", [f"{i} Produit numéro {i}" for i in range(1, 40)], 182),
    "arabic-lines": ("اختر:", [f"{i} منتوج رقم {i}" for i in range(1, 20)], 80),
    "mixed-becomes-ucs2": (LOREM, ["1 زيت أركان"], 80),
}


@pytest.mark.parametrize("header,lines,limit", PAGING.values(), ids=PAGING.keys())
def test_pages_fit_and_never_cut_a_word(header: str, lines: list[str], limit: int) -> None:
    pages = paginate(header, lines, footer="0 Retour", more="98 Suite")
    assert len(pages) > 1
    words: list[str] = []
    for index, page in enumerate(pages):
        assert length(page) <= limit
        assert page.endswith("98 Suite\n0 Retour" if index < len(pages) - 1 else "0 Retour")
        body = page.removesuffix("0 Retour").removesuffix("\n").removesuffix("98 Suite")
        words.extend(body.split())
    assert words == " ".join([header, *lines]).split()


def test_a_word_longer_than_a_page_is_the_only_thing_cut() -> None:
    rows = wrap("a " + "x" * 50 + " b", 20)
    assert rows == ["a", "x" * 20, "x" * 20, "x" * 10 + " b"]


def test_a_short_screen_is_one_page_without_more() -> None:
    assert paginate("Stock:", ["Amlou: 4 kg"], footer="0 Retour", more="98 Suite") == [
        "Stock:\nAmlou: 4 kg\n0 Retour"]


def _run(result: machine.Result) -> Any:
    return lambda call: result


def test_more_then_back_moves_between_pages() -> None:
    state = machine.new_state(MENU, role="member", lang="ar", vars={"name": "Khadija"})
    state, first = machine.drive(MENU, state, None, _run(machine.Result()))
    state, second = machine.drive(MENU, state, "98", _run(machine.Result()))
    assert first.pages == 2 and "5 التصويت" in second.text
    _, back = machine.drive(MENU, state, "0", _run(machine.Result()))
    assert back.text == first.text
    _, again = machine.drive(MENU, state, "98", _run(machine.Result()))
    assert again.text.startswith("لا صفحة أخرى.")


def test_a_retry_error_re_asks_and_a_failure_lands_on_failed() -> None:
    state = sample_state(MENU, "deliver_pin", "fr", "member")
    stepped = machine.step(MENU, state, "9999")
    assert stepped.action is not None and stepped.action.pin == "9999"
    assert "9999" not in str(stepped.state)  # a PIN is never kept in the session
    retry = machine.after(MENU, stepped.state, machine.Result(
        ok=False, error="pin_wrong", retry=True, error_params={"left": 2}))
    assert retry["screen"] == "deliver_pin"
    assert machine.render(MENU, retry).text.startswith("PIN incorrect. Encore 2 essai(s).")
    failed = machine.after(MENU, stepped.state, machine.Result(ok=False, error="error"))
    assert failed["screen"] == "failed" and not machine.render(MENU, failed).end


def test_resume_restores_the_snapshot() -> None:
    snapshot = sample_state(MENU, "deliver_qty", "zgh", "member")
    offer = machine.resume_offer(MENU, snapshot)
    assert machine.render(MENU, offer).text.startswith("Is tram at tkmmlt?")
    resumed = machine.step(MENU, offer, "1").state
    assert resumed["screen"] == "deliver_qty"
    assert resumed["vars"]["product_label"] == SAMPLES["product_label"]
    assert machine.step(MENU, offer, "2").state["screen"] == "home"


CLASSIFY = {
    "first-hop": (None, "", ("inputs", [])),
    "dial-string": (None, "3*1", ("inputs", ["3", "1"])),
    "first-input": ("", "2", ("inputs", ["2"])),
    "next-input": ("2*1", "2*1*500", ("inputs", ["500"])),
    "empty-input": ("2*1", "2*1*", ("inputs", [""])),
    "resent": ("2*1", "2*1", ("replay", [])),
    "late-copy": ("2*1*5", "2*1", ("replay", [])),
    "unrelated": ("2*1", "4*4", ("home", [])),
    "not-a-star-boundary": ("2*1", "2*12", ("home", [])),
}


@pytest.mark.parametrize("previous,text,expected", CLASSIFY.values(), ids=CLASSIFY.keys())
def test_cumulative_text_is_classified(previous: str | None, text: str,
                                       expected: tuple[str, list[str]]) -> None:
    assert classify(previous, text) == expected


def test_menus_check_command(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = runner.invoke(args=["menus", "check"])
    assert result.exit_code == 0, result.output
    assert f"{len(load_menu().screens)} screens, 4 languages" in result.output
    broken = tmp_path / "menu.yaml"
    broken.write_text(yaml.safe_dump(_broken(BROKEN["dangling-goto"][0]), allow_unicode=True))
    result = runner.invoke(args=["menus", "check", "--path", str(broken)])
    assert result.exit_code == 1
    assert "error: screens.stock: goto 'nowhere' is dangling" in result.output
    broken.write_text("screens: [unclosed")
    result = runner.invoke(args=["menus", "check", "--path", str(broken)])
    assert result.exit_code == 1 and "not valid YAML" in result.output
