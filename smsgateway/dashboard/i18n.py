"""The dashboard's languages: its own catalog (``texts.yaml`` beside this module), the
language a coordinator reads it in, and the ``t()`` every template and flash message uses.

French by default; Arabic is written right to left (``dir="rtl"`` on the page, the layout
mirrored by the stylesheet's logical properties); English. Her choice is kept in the session
and, once she has an account with a ``language``, on the account.
"""

from __future__ import annotations

import string
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from menus import numbers

from ..db import get_session
from ..services.outcome import Phrase

#: The dashboard's languages, in the order the switcher shows them.
LANGUAGES: tuple[str, ...] = ("fr", "ar", "en")
DEFAULT = "fr"
RTL = frozenset({"ar"})
#: Each language's name, written in itself (the switcher shows these).
NAMES = {"fr": "Français", "ar": "العربية", "en": "English"}
CATALOG_PATH = Path(__file__).with_name("texts.yaml")


@cache
def catalog() -> dict[str, dict[str, str]]:
    """The catalog, read and checked once: every key in every language, same placeholders."""
    data, found = load(CATALOG_PATH)
    if found:
        raise ValueError("; ".join(found))
    return data


def load(path: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    """The catalog at ``path`` and what is wrong with it (``smsgateway menus check`` too)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for key, texts in data.items():
        missing = [lang for lang in LANGUAGES if not isinstance(texts.get(lang), str)]
        if missing:
            found.append(f"dashboard text {key!r} has no {', '.join(missing)}")
            continue
        fields = {lang: _fields(texts[lang]) for lang in LANGUAGES}
        if len({frozenset(f) for f in fields.values()}) != 1:
            found.append(f"dashboard text {key!r}: placeholders differ {fields}")
    return data, found


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def language() -> str:
    """The language of the page being drawn."""
    return g.get("lang") or DEFAULT


def t(key: str, /, **values: Any) -> str:
    """The text ``key`` in the page's language, filled with ``values`` (escaped by Jinja)."""
    return text(key, language(), **values)


def text(key: str, lang: str, /, **values: Any) -> str:
    """The text ``key`` in ``lang`` (the CLI writes dashboard phrases in English with it)."""
    written = catalog()[key][lang]
    return written.format(**values) if values else written


def phrase(said: Phrase, lang: str | None = None) -> str:
    """A phrase of this catalog in ``lang`` (the page's by default): its numbers written by
    the one formatter, the phrases inside it in the same language."""
    lang = lang or language()
    values = {name: phrase(value, lang) if isinstance(value, Phrase)
              else numbers.number(value, lang) if isinstance(value, int | Decimal)
              else value for name, value in said.params.items()}
    return text(said.key, lang, **values)


def word(kind: str, value: object) -> str:
    """A status or channel in words (``word("status", "delivered")``); the raw value if new."""
    texts = catalog().get(f"{kind}_{value}")
    return texts[language()] if texts else str(value)


def _account() -> Any:
    return g.get("account") or g.get("coordinator")


def pick_language() -> None:
    """Set ``g.lang``: her choice in this session, else her account's, else French."""
    chosen = session.get("lang")
    if chosen not in LANGUAGES:
        chosen = str(getattr(_account(), "language", "") or "")
    g.lang = chosen if chosen in LANGUAGES else DEFAULT


def set_language() -> ResponseReturnValue:
    """Keep the language she picked (session, and her account when signed in); go back."""
    chosen = request.form.get("lang", "")
    if chosen in LANGUAGES:
        session["lang"] = chosen
        account = _account()
        if account is not None and hasattr(account, "language") and _storable(account, chosen):
            account.language = chosen
            get_session().commit()
    return redirect(back_to(request.form.get("next", "")))


def back_to(path: str) -> str:
    """``path`` when it is a dashboard page of this site, else the home page (never an open
    redirect to another host)."""
    if not path.startswith("/dashboard") or "//" in path or "\\" in path:
        return url_for("dashboard.overview")
    return path


def _storable(account: Any, chosen: str) -> bool:
    # A member's language is a database enum: store only what it accepts.
    column = type(account).__table__.c.get("language")
    enums = getattr(column.type, "enums", None) if column is not None else None
    return enums is None or chosen in enums


def _inject() -> dict[str, Any]:
    lang = language()
    return {"t": t, "word": word, "phrase": phrase, "lang": lang,
            "dir": "rtl" if lang in RTL else "ltr",
            "languages": [(code, NAMES[code]) for code in LANGUAGES]}


def register(bp: Blueprint) -> None:
    """Pick each request's language, give templates ``t``, and the language switch."""
    bp.app_context_processor(_inject)
    bp.add_url_rule("/dashboard/language", view_func=set_language, methods=["POST"])
