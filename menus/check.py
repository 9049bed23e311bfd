"""Checks a menu beyond its structure: every screen rendered in every language and role.

Used by ``smsgateway menus check`` and the tests. Pure: sample values stand in for data.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import machine
from .encoding import GSM7, encoding_of, length
from .model import Menu, fields_of, screen_limit

#: Stand-ins for the values actions fill in, as long as real ones usually are.
SAMPLES = {
    "name": "Khadija", "product_label": "Huile d'argan", "product_unit": "kg",
    "quantity": "12.5", "delivery": "1234", "order": "1234", "recipients": "1500",
    "cost": "375.25", "currency": "MAD", "min": "0.001", "max": "10000", "left": "2",
    "minutes": "15", "choice_label": "Oui", "resolution_label": "Acheter une presse neuve ?",
    "balance_line": "On vous doit: 1250.50 MAD", "outcome": "Commande 1234 confirmée.",
    "summary": "Commande 12: 10 l Huile d'argan pour Epicerie Bio, 3500 MAD. Stock: 120 l.",
}
SAMPLE_ITEMS = [{"id": i, "label": label} for i, label in
                enumerate(["Huile d'argan", "Amlou", "Miel de thym", "Savon"], 1)]
SAMPLE_LINES = ["Huile d'argan: 120 l", "Amlou: 45 kg", "Miel de thym: 8 kg"]
#: Messages sent as SMS (several segments allowed), not shown on a screen.
SMS_PREFIXES = ("sms_", "alert_")
ROLES = ("member", "coordinator")
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
    state = machine.new_state(menu, role=role, lang=lang, vars=SAMPLES)
    screen = menu.screens[screen_id]
    state.update(screen=screen_id, items=list(SAMPLE_ITEMS), lines=list(SAMPLE_LINES),
                 params={}, loaded=True, end=screen.type == "end")
    if screen_id != state["home"]:
        state["stack"] = [state["home"]]
    return state


def render_all(menu: Menu) -> list[tuple[str, str, str, int, str]]:
    """Every page of every screen: (screen, language, role, page, text)."""
    pages = []
    for sid, screen in menu.screens.items():
        langs = screen.langs and (screen.langs[0],) or menu.languages
        roles = ("guest",) if screen.langs else ROLES
        for lang in langs:
            for role in roles:
                state = sample_state(menu, sid, lang, role)
                count = machine.render(menu, state).pages
                for page in range(count):
                    state["page"] = page
                    pages.append((sid, lang, role, page, machine.render(menu, state).text))
    return pages


def check(menu: Menu) -> list[Finding]:
    """Screens over their limit, questions split across pages, messages too long for a screen."""
    findings: list[Finding] = []
    for sid, lang, role, page, text in render_all(menu):
        if length(text) > screen_limit(text):
            findings.append(Finding("error", f"screens.{sid}.{lang}",
                                    f"page {page + 1} ({role}) has {length(text)} characters, "
                                    f"over {screen_limit(text)}"))
    for sid, screen in menu.screens.items():
        if screen.type != "input":
            continue
        for lang in screen.langs or menu.languages:
            state = sample_state(menu, sid, lang, "member")
            if machine.render(menu, state).pages > 1:
                findings.append(Finding("error", f"screens.{sid}.{lang}",
                                        "the question does not fit on one screen"))
    for key, texts in menu.messages.items():
        for lang, text in texts.items():
            sample = text.format_map({f: SAMPLES.get(f, "1234") for f in fields_of(text)})
            if not key.startswith(SMS_PREFIXES) and length(sample) > screen_limit(sample):
                findings.append(Finding("error", f"messages.{key}.{lang}",
                                        "too long for one screen"))
            if lang in ("fr", "zgh", "en") and encoding_of(text) != GSM7:
                findings.append(Finding("warning", f"messages.{key}.{lang}",
                                        "outside GSM-7: screens hold 80 characters, SMS cost "
                                        "more"))
    for sid, screen in menu.screens.items():
        for lang, text in screen.text.items():
            filled = text.format_map({f: SAMPLES.get(f, "1234") for f in fields_of(text)})
            # Paging splits between words only: a word longer than a page would be cut.
            if any(length(word) > screen_limit(filled) - LONGEST_FOOTER
                   for word in filled.split()):
                findings.append(Finding("error", f"screens.{sid}.text.{lang}",
                                        "has a word longer than a screen"))
            if lang in ("fr", "zgh", "en") and not screen.langs and encoding_of(text) != GSM7:
                findings.append(Finding("warning", f"screens.{sid}.text.{lang}",
                                        "outside GSM-7: the screen holds only 80 characters"))
    return findings
