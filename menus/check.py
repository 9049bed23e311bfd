"""Checks beyond structure: every screen rendered in every language and role, and every
catalog message filled with sample values within its channel's limit (a USSD screen, or the
SMS segments it may take).

Used by ``smsgateway menus check`` and the tests. Pure: sample values stand in for data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from . import machine
from .catalog import Catalog, fields_of
from .encoding import GSM7, encoding_of, fold_to_gsm7, length, measure, screen_limit
from .languages import LATIN_SCRIPT as LATIN
from .machine import State
from .model import COORDINATOR, GUEST, MEMBER, Menu

#: Stand-ins for the values actions fill in, as long as real ones usually are.
SAMPLES = {
    "name": "Khadija", "product_label": "Huile d'argan", "product_unit": "kg",
    "quantity": "12.5", "delivery": "1234", "order": "1234", "recipients": "1500",
    "cost": "375.25", "currency": "MAD", "min": "0.001", "max": "10000", "left": "2",
    "minutes": "15", "choice_label": "Oui", "resolution_label": "Acheter une presse neuve ?",
    "balance_line": "On vous doit: 1250,50 MAD", "outcome": "Commande 1234 confirmée.",
    "summary": "Commande 12: 10 l Huile d'argan pour Epicerie Bio, 3500 MAD. Stock: 120 l.",
}
SAMPLE_ITEMS = [{"id": i, "label": label} for i, label in
                enumerate(["Huile d'argan", "Amlou", "Miel de thym", "Savon"], 1)]
SAMPLE_LINES = ["Huile d'argan: 120 l", "Amlou: 45 kg", "Miel de thym: 8 kg"]
#: Stand-ins for the values SMS replies are filled with, as long as real ones usually are.
SMS_SAMPLES = {
    "items": "Huile d'argan 120 l, Amlou 45 kg, Miel de thym 8 kg, Savon 300 u",
    "products": "ARGAN, AMLOU, MIEL, SAVON", "example": "ARGAN", "word": "x" * 30,
    "buyer": "Epicerie Bio Agadir", "product": "Huile d'argan", "unit": "kg",
    "resolution": "Acheter une presse neuve ?", "choice": "Oui", "closes": "30/06/2026",
    "reason": "inventaire", "service_code": "*384*123#", "status": "confirmee",
    "amount": "1250.5", "balance": "1250.5", "total": "3500", "stock": "120",
    "available": "8", "requested": "12.5", "change": "+2.5", "segments": "2", "at": "07:00",
}
ROLES = (MEMBER, COORDINATOR)
#: Room the navigation lines take on a page ("98 Suite", "0 Retour" and their newlines).
LONGEST_FOOTER = 30


@dataclass(frozen=True)
class Finding:
    """One problem (``error``) or advice (``warning``) about the menu."""

    level: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.where}: {self.message}"


def sample_state(menu: Menu, screen_id: str, lang: str, role: str) -> machine.State:
    """A state on ``screen_id`` with sample values, items and lines, as a loader would leave."""
    samples = dict(SAMPLES)
    if "order_summary" in menu.catalog:
        # The summary a coordinator decides on, as long as it is written in her language.
        samples["summary"] = menu.catalog.text("order_summary", lang, **{
            **SMS_SAMPLES, "order": "1234", "quantity": "12.5", "unit": "kg",
            "buyer": "Epicerie Bio", "total": "3500", "stock": "120"})
    state = machine.new_state(menu, role=role, lang=lang, vars=samples)
    screen = menu.screens[screen_id]
    state.update(screen=screen_id, items=list(SAMPLE_ITEMS), lines=list(SAMPLE_LINES),
                 params={}, loaded=True, end=screen.type == "end")
    if screen_id != state["home"]:
        state["stack"] = [state["home"]]
    return state


def _screen_pages(menu: Menu) -> Iterator[tuple[str, str, str, State, list[str]]]:
    """Each screen in each language and role, sampled: (screen, language, role, state, pages)."""
    for sid, screen in menu.screens.items():
        langs = screen.langs and (screen.langs[0],) or menu.languages
        roles = (GUEST,) if screen.langs else ROLES
        for lang in langs:
            for role in roles:
                state = sample_state(menu, sid, lang, role)
                pages = []
                for page in range(machine.render(menu, state).pages):
                    state["page"] = page
                    pages.append(machine.render(menu, state).text)
                state["page"] = 0
                yield sid, lang, role, state, pages


def render_all(menu: Menu) -> list[tuple[str, str, str, int, str]]:
    """Every page of every screen: (screen, language, role, page, text)."""
    return [(sid, lang, role, page, text)
            for sid, lang, role, _state, pages in _screen_pages(menu)
            for page, text in enumerate(pages)]


def check(menu: Menu) -> list[Finding]:
    """Screens over their limit, questions split across pages, and the catalog's findings."""
    findings = check_catalog(menu.catalog)
    for sid, lang, role, page, text in render_all(menu):
        if length(text) > screen_limit(text):
            findings.append(Finding("error", f"screens.{sid}.{lang}",
                                    f"page {page + 1} ({role}) has {length(text)} characters, "
                                    f"over {screen_limit(text)}"))
    findings.extend(_cut_texts(menu))
    for sid, screen in menu.screens.items():
        if screen.type != "input":
            continue
        for lang in screen.langs or menu.languages:
            state = sample_state(menu, sid, lang, MEMBER)
            if machine.render(menu, state).pages > 1:
                findings.append(Finding("error", f"screens.{sid}.{lang}",
                                        "the question does not fit on one screen"))
    for sid, screen in menu.screens.items():
        for lang, text in screen.text.items():
            filled = menu.catalog.fill(text, {f: SAMPLES.get(f, "1234")
                                              for f in fields_of(text)}, lang)
            # Paging splits between words only: a word longer than a page would be cut.
            if any(length(word) > screen_limit(filled) - LONGEST_FOOTER
                   for word in filled.split()):
                findings.append(Finding("error", f"screens.{sid}.text.{lang}",
                                        "has a word longer than a screen"))
            if lang in LATIN and not screen.langs and encoding_of(text) != GSM7:
                findings.append(Finding("warning", f"screens.{sid}.text.{lang}",
                                        "outside GSM-7: the screen holds only 80 characters"))
            used = fields_of(text)
            if "currency" in used and used & menu.catalog.money:
                findings.append(Finding("error", f"screens.{sid}.text.{lang}",
                                        "an amount carries its currency: no {currency} "
                                        "next to it"))
    return findings


def _cut_texts(menu: Menu) -> list[Finding]:
    """Screen texts that only fit cut mid-sentence: not whole on the screen's first page."""
    findings = []
    found: set[tuple[str, str]] = set()  # one finding per screen and language
    for sid, lang, role, state, pages in _screen_pages(menu):
        if (sid, lang) in found:
            continue
        screen = menu.screens[sid]
        texts = screen.empty if screen.type == "list" and not state["items"] \
            and screen.empty else screen.text
        body = menu.fill(texts, lang, {**state["vars"], **state["params"]})
        # A page may break between the text's lines, never inside one; the first line shows
        # on the first page.
        lines = [line for line in body.split("\n") if line]
        if lines and (lines[0] not in pages[0]
                      or any(all(line not in p for p in pages) for line in lines)):
            found.add((sid, lang))
            findings.append(Finding(
                "error", f"screens.{sid}.text.{lang}",
                f"fits only cut mid-sentence across pages ({role}): shorten it"))
    return findings


def sample_text(catalog: Catalog, key: str, lang: str | None) -> str:
    """Message ``key`` filled with sample values (``lang`` None: all its languages at once)."""
    entry = catalog.entries[key]
    names = set().union(*(fields_of(t) for t in entry.texts.values()))
    # Screen messages keep the short stand-ins (long names page); SMS get realistic ones.
    samples = {**SAMPLES, **SMS_SAMPLES} if entry.channel == "sms" else SAMPLES
    values = {name: samples.get(name, "1234") for name in names}
    values["currency"] = SAMPLES["currency"]
    if lang is None:
        return catalog.all_languages(key, **values)
    return catalog.text(key, lang, **values)


def check_catalog(catalog: Catalog) -> list[Finding]:
    """Messages over their channel's limit, and Latin-script texts outside GSM-7."""
    findings: list[Finding] = []
    for key, entry in catalog.entries.items():
        where = f"{entry.channel}.{key}"
        langs: list[str | None] = [None] if entry.langs else list(entry.texts)
        for lang in langs:
            sample = sample_text(catalog, key, lang)
            label = f"{where}.{lang}" if lang else where
            if entry.channel == "screen" and length(sample) > screen_limit(sample):
                findings.append(Finding("error", label, f"{length(sample)} characters, over "
                                        f"the {screen_limit(sample)} of a USSD screen"))
            segments = measure(sample).segments
            if entry.channel == "sms" and segments > entry.segments:
                findings.append(Finding("error", label, f"takes {segments} SMS segments, "
                                        f"more than the {entry.segments} allowed"))
        for lang, text in entry.texts.items():
            # An SMS is folded to GSM-7 as it is sent (Catalog.text); a screen is not.
            sent = fold_to_gsm7(text) if entry.channel == "sms" else text
            if lang in LATIN and not entry.langs and encoding_of(sent) != GSM7:
                findings.append(Finding("warning", f"{where}.{lang}",
                                        "outside GSM-7: screens hold 80 characters, SMS cost "
                                        "more"))
    return findings
