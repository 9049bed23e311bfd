"""Menus as data: load the YAML, build typed screens, and find what is wrong with them.

A menu file has ``homes`` (role -> first screen) and ``screens``. Every screen text is a
mapping language -> text (languages from :mod:`menus.languages`), except on bilingual screens
(``langs: [fr, ar]``) shown to unknown numbers. What the menus say between screens
(navigation, reasons for re-asking, SMS confirmations) is in the message catalog
(:mod:`menus.catalog`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .catalog import Catalog, Texts, packaged, read_yaml, texts_problems
from .errors import MenuError, YamlError
from .languages import FALLBACK, LANGUAGES

SCREEN_TYPES = frozenset({"menu", "list", "input", "info", "end"})
#: ``pin`` checks her PIN; ``new_pin`` takes one she chooses; ``code`` a one-time code. None
#: of the three is ever stored in the session: each goes to its action as ``Call.pin``.
INPUT_KINDS = frozenset({"quantity", "pin", "new_pin", "code"})
SECRET_KINDS = frozenset({"pin", "new_pin", "code"})
#: Screens the machine itself sends members to, so they count as reachable.
SPECIAL_SCREENS = ("failed", "resume")
#: A goto to this name restores the snapshot of a dropped session.
RESUME_TARGET = "@resume"
#: A goto to this name goes back to the PIN screen a member without a PIN was taken from.
RETURN_TARGET = "@return"
#: The session variable saying whether the caller has a PIN (set when she dials), and the
#: one keeping the PIN screen to come back to once she has chosen it.
HAS_PIN = "has_pin"
PIN_RETURN = "pin_return"
#: Roles with a home screen: every menu has a member home; a caller we do not know is a guest.
MEMBER = "member"
COORDINATOR = "coordinator"
GUEST = "guest"
#: A caller who belongs to several cooperatives, before she has chosen one.
CHOOSER = "chooser"
#: Catalog messages the machine itself shows.
NAV_MESSAGES = ("back", "more", "home", "no_more", "bad_option", "empty_input", "not_number",
                "too_small", "too_big", "bad_pin_format", "bad_code_format", "error")
DEFAULT_PATH = Path(__file__).with_name("cooperative.yaml")
_FIELD_RE = re.compile(r"^[a-z_][a-z0-9_]*$")

@dataclass(frozen=True)
class Option:
    """One numbered choice of a menu screen."""

    key: str
    label: Texts
    goto: str | None = None
    roles: frozenset[str] | None = None
    set: Mapping[str, str] = field(default_factory=dict)
    do: str | None = None

    def visible_to(self, role: str) -> bool:
        """Whether a member with ``role`` sees this option."""
        return self.roles is None or role in self.roles


@dataclass(frozen=True)
class Screen:
    """A screen: what it shows, what input it takes, where it leads."""

    id: str
    type: str
    text: Texts
    options: tuple[Option, ...] = ()
    load: str | None = None
    do: str | None = None
    goto: str | None = None
    store: str | None = None
    kind: str | None = None
    min: float | None = None
    max: float | None = None
    empty: Texts | None = None
    langs: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Menu:
    """A whole menu tree with its texts."""

    languages: tuple[str, ...]
    homes: Mapping[str, str]
    catalog: Catalog
    screens: Mapping[str, Screen]
    #: Where a member without a PIN goes when a screen asks for it (None: nowhere).
    pin_setup: str | None = None

    def t(self, key: str, lang: str, **params: Any) -> str:
        """A catalog message in ``lang`` (falling back to French), with ``params`` filled in."""
        return self.catalog.text(key, lang, **params)

    def fill(self, texts: Texts, lang: str, params: Mapping[str, Any]) -> str:
        """A screen text in ``lang`` (else French), filled with ``params`` the catalog's way."""
        template = texts.get(lang) or texts.get(FALLBACK) or next(iter(texts.values()), "")
        return self.catalog.fill(template, params, lang)

    def home(self, role: str) -> str:
        """The first screen of a member with ``role``."""
        return self.homes.get(role) or self.homes[MEMBER]


def load_menu(path: Path | str = DEFAULT_PATH, catalog: Catalog | None = None) -> Menu:
    """Read and build a menu; raise :class:`MenuError` listing every structural fault."""
    try:
        raw = read_yaml(path)
    except YamlError as error:
        raise MenuError([str(error)]) from None
    menu, problems = build_menu(raw, catalog)
    if problems:
        raise MenuError(problems)
    assert menu is not None
    return menu


_cache_lock = threading.Lock()


@lru_cache(maxsize=8)
def _cached(path: str) -> Menu:
    return load_menu(path)


def cached_menu(path: str = str(DEFAULT_PATH)) -> Menu:
    """The menu at ``path``, parsed once per process (menus change only with a deploy).

    The lock keeps the threads of a fresh worker from all parsing it at once.
    """
    with _cache_lock:
        return _cached(path)


def build_menu(raw: Any, catalog: Catalog | None = None) -> tuple[Menu | None, list[str]]:
    """Build a :class:`Menu` from parsed YAML; return it and the problems found."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        return None, ["the menu file must be a mapping"]
    catalog = catalog or packaged()
    languages = LANGUAGES
    for moved in ("messages", "languages"):
        if moved in raw:
            problems.append(f"{moved}: not in a menu file (texts.yaml has the messages, "
                            "menus/languages.py the languages)")
    homes = raw.get("homes") or {}
    if MEMBER not in homes:
        problems.append(f"homes: needs a '{MEMBER}' home screen")
    for key in NAV_MESSAGES:
        if key not in catalog:
            problems.append(f"messages.{key}: missing from the catalog")
    screens: dict[str, Screen] = {}
    for sid, body in (raw.get("screens") or {}).items():
        screen = _screen(str(sid), body, languages, problems)
        if screen is not None:
            screens[screen.id] = screen
    pin_setup = raw.get("pin_setup")
    menu = Menu(languages, dict(homes), catalog, screens, pin_setup)
    if pin_setup is not None and pin_setup not in screens:
        problems.append(f"pin_setup: no screen '{pin_setup}'")
    problems.extend(_graph_problems(menu))
    return menu, problems


def _texts(value: Any, where: str, languages: tuple[str, ...], problems: list[str]) -> Texts:
    texts, found = texts_problems(value, where, languages)
    problems.extend(found)
    return texts


def _screen(sid: str, body: Any, languages: tuple[str, ...],
            problems: list[str]) -> Screen | None:
    where = f"screens.{sid}"
    if not isinstance(body, dict):
        problems.append(f"{where}: must be a mapping")
        return None
    kind = body.get("type")
    if kind not in SCREEN_TYPES:
        problems.append(f"{where}.type: must be one of {sorted(SCREEN_TYPES)}")
        return None
    langs = tuple(body["langs"]) if body.get("langs") else None
    wanted = langs or languages
    options: list[Option] = []
    for index, opt in enumerate(body.get("options") or ()):
        owhere = f"{where}.options[{index}]"
        if not isinstance(opt, dict) or "key" not in opt:
            problems.append(f"{owhere}: needs a key")
            continue
        roles = opt.get("roles")
        options.append(Option(
            key=str(opt["key"]),
            label=_texts(opt.get("label"), f"{owhere}.label", wanted, problems),
            goto=opt.get("goto"),
            roles=frozenset(roles) if roles else None,
            set={str(k): str(v) for k, v in (opt.get("set") or {}).items()},
            do=opt.get("do"),
        ))
        if not options[-1].goto:
            problems.append(f"{owhere}: needs a goto")
    keys = [o.key for o in options]
    if len(keys) != len(set(keys)):
        problems.append(f"{where}.options: duplicate keys")
    if kind == "menu" and not options:
        problems.append(f"{where}: a menu needs options")
    if kind in ("list", "input") and not body.get("goto"):
        problems.append(f"{where}: a {kind} screen needs a goto")
    if kind == "list" and not body.get("load"):
        problems.append(f"{where}: a list screen needs a load action")
    input_kind = body.get("kind")
    if kind == "input" and input_kind not in INPUT_KINDS:
        problems.append(f"{where}.kind: must be one of {sorted(INPUT_KINDS)}")
    store = body.get("store")
    if store is not None and not _FIELD_RE.match(str(store)):
        problems.append(f"{where}.store: not a valid name")
    if input_kind in SECRET_KINDS and store:
        problems.append(f"{where}.store: a PIN is never stored, nor a code")
    empty = body.get("empty")
    return Screen(
        id=sid,
        type=kind,
        text=_texts(body.get("text"), f"{where}.text", wanted, problems),
        options=tuple(options),
        load=body.get("load"),
        do=body.get("do"),
        goto=body.get("goto"),
        store=store,
        kind=input_kind,
        min=body.get("min"),
        max=body.get("max"),
        empty=_texts(empty, f"{where}.empty", wanted, problems) if empty is not None else None,
        langs=langs,
    )


def targets(screen: Screen) -> list[str]:
    """Screens a screen can lead to."""
    found = [o.goto for o in screen.options if o.goto]
    if screen.goto:
        found.append(screen.goto)
    return [t for t in found if t not in (RESUME_TARGET, RETURN_TARGET)]


def _graph_problems(menu: Menu) -> list[str]:
    problems = []
    for role, sid in menu.homes.items():
        if sid not in menu.screens:
            problems.append(f"homes.{role}: no screen '{sid}'")
    for screen in menu.screens.values():
        for target in targets(screen):
            if target not in menu.screens:
                problems.append(f"screens.{screen.id}: goto '{target}' is dangling")
    for sid in SPECIAL_SCREENS:
        if sid not in menu.screens:
            problems.append(f"screens.{sid}: missing (the machine sends members there)")
    seen: set[str] = set()
    roots = (*menu.homes.values(), *SPECIAL_SCREENS, *filter(None, [menu.pin_setup]))
    todo = [s for s in roots if s in menu.screens]
    while todo:
        sid = todo.pop()
        if sid in seen:
            continue
        seen.add(sid)
        todo.extend(t for t in targets(menu.screens[sid]) if t in menu.screens)
    for sid in menu.screens:
        if sid not in seen:
            problems.append(f"screens.{sid}: unreachable")
    return problems
