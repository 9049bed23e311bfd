"""The USSD state machine: pure functions from (menu, state, input) to the next state.

The state is a JSON-ready dict kept by the caller between hops. Where a screen needs data
(``load``) or an input decides something (``do``), the machine returns a :class:`Call`; the
caller runs it and hands the :class:`Result` back with :func:`after` or :func:`loaded`.
:func:`drive` strings these together for one input. Navigation, everywhere: ``0`` back,
``00`` home, ``98`` the next page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, NotRequired, TypedDict

from .encoding import length, screen_limit
from .languages import FALLBACK
from .model import (
    HAS_PIN,
    MEMBER,
    PIN_RETURN,
    RESUME_TARGET,
    RETURN_TARGET,
    SECRET_KINDS,
    Menu,
    Screen,
)
from .numbers import plain
from .paging import paginate

BACK = "0"
HOME = "00"
MORE = "98"
#: Screens a dropped session is not resumed at.
NO_RESUME = frozenset({"failed", "resume"})

#: ``vars`` keys the gateway sets when a member dials: her id and her cooperative's.
ME = "me"
COOP = "coop"


class State(TypedDict):
    """A session between hops: plain JSON (sessions keep it in Redis as it is)."""

    screen: str
    home: str
    #: Screens to go back to, most recent last (at most 12).
    stack: list[str]
    #: What the member chose or typed, by the names the menu stores them under.
    vars: dict[str, Any]
    page: int
    #: What the screen's loader answered.
    items: list[dict[str, Any]]
    params: dict[str, Any]
    lines: list[str]
    loaded: bool
    #: A catalog message shown above the screen: ``[key, params]``.
    notice: list[Any] | None
    lang: str
    role: str
    end: bool
    #: Where to go once the pending ``do`` action answers.
    pending: str | None
    #: On the ``resume`` screen: the dropped session it can restore.
    resume: NotRequired[State]

_QUANTITY_RE = re.compile(r"^[0-9]{1,7}([.,#][0-9]{1,3})?$")
# Arabic-Indic and Extended Arabic-Indic digits, and the Arabic decimal separator, as Arabic
# keypads type them: read like their ASCII forms in options, quantities and PINs (the SMS
# parser reads them the same way).
_DIGITS = {ord(c): str(i) for i, c in enumerate("٠١٢٣٤٥٦٧٨٩")}
_DIGITS.update({ord(c): str(i) for i, c in enumerate("۰۱۲۳۴۵۶۷۸۹")})
_DIGITS.update({ord("٫"): ",", ord("،"): ","})
_PIN_RE = re.compile(r"^[0-9]{4}$")
_CODE_RE = re.compile(r"^[0-9]{6}$")


@dataclass(frozen=True)
class Call:
    """An action the caller must run: ``name`` from the menu, with the session's values."""

    name: str
    vars: Mapping[str, Any]
    lang: str
    pin: str | None = None
    loader: bool = False


@dataclass(frozen=True)
class Result:
    """What an action answered.

    ``ok`` false: ``error`` names a message; ``retry`` re-asks the same screen, otherwise the
    member lands on the ``failed`` screen. Loaders fill ``params``, ``items`` and ``lines``.
    """

    ok: bool = True
    params: Mapping[str, Any] = field(default_factory=dict)
    items: list[dict[str, Any]] | None = None
    lines: list[str] | None = None
    error: str | None = None
    error_params: Mapping[str, Any] = field(default_factory=dict)
    retry: bool = False
    end: bool = False
    lang: str | None = None
    #: A new role for the session (a member of two cooperatives chose one): its home too.
    role: str | None = None


@dataclass(frozen=True)
class Step:
    """The next state and, if any, the action to run before showing it."""

    state: State
    action: Call | None = None

    @property
    def screen(self) -> str:
        """The screen the member is on (or leaving, while an action is pending)."""
        return str(self.state["screen"])


@dataclass(frozen=True)
class Rendered:
    """One page of a screen, ready to send."""

    text: str
    end: bool
    pages: int


def new_state(menu: Menu, *, role: str = MEMBER, lang: str = "fr",
              vars: Mapping[str, Any] | None = None) -> State:
    """A session at the home screen of ``role``."""
    home = menu.home(role)
    return {"screen": home, "home": home, "stack": [], "vars": dict(vars or {}), "page": 0,
            "items": [], "params": {}, "lines": [], "loaded": False, "notice": None,
            "lang": lang, "role": role, "end": False, "pending": None}


def copy_state(state: State) -> State:
    """A copy of ``state`` deep enough that changing it leaves the original as it was."""
    new = state.copy()
    new["vars"] = dict(state["vars"])
    new["params"] = dict(state["params"])
    new["items"] = [dict(item) for item in state["items"]]
    new["lines"] = list(state["lines"])
    new["stack"] = list(state["stack"])
    if state.get("resume"):
        new["resume"] = copy_state(state["resume"])
    return new


def resume_offer(menu: Menu, snapshot: State) -> State:
    """A state on the ``resume`` screen that can restore ``snapshot``."""
    state = new_state(menu, role=snapshot["role"], lang=snapshot["lang"], vars=snapshot["vars"])
    state.update(screen="resume", resume=snapshot, stack=[state["home"]])
    return state


def resumable(state: State, menu: Menu | None = None) -> bool:
    """Whether a dropped session at ``state`` is worth offering to resume.

    Not a screen that only informs (stock, prices, balance): a member who read it is not
    asked on her next dial whether to read it again.
    """
    if menu is not None and (screen := menu.screens.get(state["screen"])) is not None \
            and screen.type == "info":
        return False
    return (not state.get("end") and state["screen"] != state["home"]
            and state["screen"] not in NO_RESUME)


def _goto(menu: Menu, state: State, target: str) -> None:
    if target == RESUME_TARGET and state.get("resume"):
        snapshot = state.pop("resume")
        state.update(copy_state(snapshot))
        state.update(loaded=False, page=0, notice=None, pending=None)
        return
    state.pop("resume", None)
    if target == RETURN_TARGET:
        target = state["vars"].pop(PIN_RETURN, None) or state["home"]
    screen = menu.screens.get(target)
    if (menu.pin_setup and screen is not None and screen.kind == "pin"
            and state["vars"].get(HAS_PIN) is False):
        # She has no PIN yet: she chooses it (with her one-time code) first, then comes back.
        state["vars"][PIN_RETURN] = target
        target = menu.pin_setup
    if target == RESUME_TARGET or target == state["home"]:
        state["stack"] = []
        target = state["home"]
    elif target != state["screen"]:
        state["stack"] = [*state["stack"], state["screen"]][-12:]
    state.update(screen=target, page=0, items=[], params={}, lines=[], loaded=False,
                 end=menu.screens[target].type == "end", pending=None)


def _notice(state: State, key: str, *, keep_page: bool = False, **params: Any) -> State:
    state["notice"] = [key, params]
    if not keep_page:
        state["page"] = 0
    return state


def step(menu: Menu, state: State, raw: str) -> Step:
    """Apply one input to ``state``; return the new state and the action to run, if any."""
    state = copy_state(state)
    state["notice"] = None
    value = raw.strip().translate(_DIGITS)
    screen = menu.screens[state["screen"]]
    if value == MORE:
        if state["page"] + 1 < render(menu, state).pages:
            state["page"] += 1
            return Step(state)
        # On the last page: say so, and stay on it (not back to the first page).
        return Step(state if state.get("end") else _notice(state, "no_more", keep_page=True))
    if state.get("end"):
        return Step(state)
    if value == HOME:
        _goto(menu, state, state["home"])
        return Step(state)
    if value == BACK and state["page"] > 0:
        state["page"] -= 1
        return Step(state)
    if value == BACK and screen.id != state["home"]:
        if screen.id == "resume":
            _goto(menu, state, state["home"])
        else:
            previous = state["stack"][-1] if state["stack"] else state["home"]
            state["stack"] = state["stack"][:-1]
            stack = state["stack"]
            _goto(menu, state, previous)
            state["stack"] = stack
        return Step(state)
    if screen.type == "menu":
        return _choose_option(menu, state, screen, value)
    if screen.type == "list":
        return _choose_item(menu, state, screen, value)
    if screen.type == "input":
        return _take_input(menu, state, screen, value)
    return Step(_notice(state, "bad_option"))


def _leave(menu: Menu, state: State, screen: Screen, target: str, action: str | None,
           pin: str | None = None) -> Step:
    if action:
        state["pending"] = target
        return Step(state, Call(action, dict(state["vars"]), state["lang"], pin=pin))
    _goto(menu, state, target)
    return Step(state)


def _choose_option(menu: Menu, state: State, screen: Screen, value: str) -> Step:
    for option in screen.options:
        if option.key == value and option.visible_to(state["role"]):
            state["vars"].update(option.set)
            return _leave(menu, state, screen, option.goto or state["home"], option.do)
    return Step(_notice(state, "empty_input" if not value else "bad_option"))


def _choose_item(menu: Menu, state: State, screen: Screen, value: str) -> Step:
    items = state["items"]
    if not value:
        return Step(_notice(state, "empty_input"))
    if not value.isdigit() or not 1 <= int(value) <= len(items):
        return Step(_notice(state, "bad_option"))
    item = items[int(value) - 1]
    store = screen.store or "item"
    for key, val in item.items():
        state["vars"][f"{store}_{key}"] = val
    state["vars"][store] = item.get("id")
    return _leave(menu, state, screen, screen.goto or state["home"], screen.do)


def _take_input(menu: Menu, state: State, screen: Screen, value: str) -> Step:
    if not value:
        return Step(_notice(state, "empty_input"))
    if screen.kind in SECRET_KINDS:
        pattern, problem = (_CODE_RE, "bad_code_format") if screen.kind == "code" else (
            _PIN_RE, "bad_pin_format")
        if not pattern.match(value):
            return Step(_notice(state, problem))
        return _leave(menu, state, screen, screen.goto or state["home"], screen.do, pin=value)
    # quantity: members type 2,5 or 2.5; the keypad's # stands in for a decimal point.
    if not _QUANTITY_RE.match(value):
        return Step(_notice(state, "not_number"))
    try:
        quantity = Decimal(value.replace(",", ".").replace("#", "."))
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return Step(_notice(state, "not_number"))
    low = Decimal(str(screen.min)) if screen.min is not None else Decimal("0.001")
    # Kept language-free in the session; the catalog writes it the reader's way on screen.
    if quantity < low:
        return Step(_notice(state, "too_small", min=plain(low)))
    if screen.max is not None and quantity > Decimal(str(screen.max)):
        return Step(_notice(state, "too_big", max=plain(Decimal(str(screen.max)))))
    state["vars"][screen.store or "value"] = plain(quantity)
    return _leave(menu, state, screen, screen.goto or state["home"], screen.do)


def after(menu: Menu, state: State, result: Result) -> State:
    """Apply what a ``do`` action answered to the state :func:`step` returned."""
    state = copy_state(state)
    target = state.get("pending") or state["home"]
    state["pending"] = None
    if result.lang:
        state["lang"] = result.lang
    if result.ok and result.role:
        state["role"], state["home"] = result.role, menu.home(result.role)
        target = state["home"] if target == RETURN_TARGET else target
    if result.ok:
        state["vars"].update(result.params)
        _goto(menu, state, target)
        return state
    if result.retry:
        return _notice(state, result.error or "error", **result.error_params)
    _goto(menu, state, "failed")
    state["stack"] = []
    state["end"] = result.end
    return _notice(state, result.error or "error", **result.error_params)


def pending_load(menu: Menu, state: State) -> Call | None:
    """The loader the current screen needs before it can be shown, if any."""
    screen = menu.screens[state["screen"]]
    if screen.load and not state.get("loaded"):
        return Call(screen.load, dict(state["vars"]), state["lang"], loader=True)
    return None


def loaded(menu: Menu, state: State, result: Result) -> State:
    """Keep what a loader answered in the state."""
    state = copy_state(state)
    state["loaded"] = True
    if not result.ok:
        _goto(menu, state, "failed")
        state["stack"] = []
        state["loaded"] = True
        return _notice(state, result.error or "error", **result.error_params)
    state["params"] = dict(result.params)
    state["items"] = list(result.items or [])
    state["lines"] = list(result.lines or [])
    return state


def drive(menu: Menu, state: State, raw: str | None,
          run: Callable[[Call], Result]) -> tuple[State, Rendered]:
    """One input (None: just show the state), its actions run by ``run``, and the screen."""
    if raw is not None:
        stepped = step(menu, state, raw)
        state = stepped.state
        if stepped.action is not None:
            state = after(menu, state, run(stepped.action))
    call = pending_load(menu, state)
    if call is not None:
        state = loaded(menu, state, run(call))
    return state, render(menu, state)


def _text(texts: Mapping[str, str], lang: str) -> str:
    return texts.get(lang) or texts.get(FALLBACK) or next(iter(texts.values()), "")


def render(menu: Menu, state: State) -> Rendered:
    """The current page of the current screen, in the member's language."""
    screen = menu.screens[state["screen"]]
    langs = screen.langs or (state["lang"],)
    values = {**state["vars"], **state["params"]}
    notice: list[str] = []
    if state.get("notice"):
        key, params = state["notice"]
        notice = [menu.t(key, lang, **params) for lang in langs]
    body_texts = screen.text
    if screen.type == "list" and not state["items"] and screen.empty:
        body_texts = screen.empty
    body = [menu.fill(body_texts, lang, values) for lang in langs]

    lines: list[str] = []
    if screen.type == "menu":
        lines = [f"{o.key} " + " / ".join(_text(o.label, lang) for lang in langs)
                 for o in screen.options if o.visible_to(state["role"])]
    elif screen.type == "list":
        lines = [f"{i} {item.get('label', '')}" for i, item in enumerate(state["items"], 1)]
    elif screen.type == "info":
        lines = list(state["lines"])

    end = screen.type == "end" or bool(state.get("end"))
    at_home = screen.id == state["home"]
    back = " / ".join(menu.t("back", lang) for lang in langs)
    footer = "" if end or at_home else back
    if screen.type == "info" and not end:
        # A screen that only informs offers the way home too (00), not only back.
        footer = "\n".join([footer, " / ".join(menu.t("home", lang) for lang in langs)])
    more = " / ".join(menu.t("more", lang) for lang in langs)
    # Back (0) shows on every page after the first, on the home screen too.
    later = "" if end or not at_home else back
    page = state.get("page", 0)
    if notice and page > 0:
        # "No other page" on the last page: shown above the page she stays on.
        pages = paginate(_join(body), lines, footer=footer, more=more, later_footer=later)
        page = min(page, len(pages) - 1)
        text = _on_top(_join(notice), pages[page])
        return Rendered(text=text, end=end and page == len(pages) - 1, pages=len(pages))
    pages = paginate(_join(notice + body), lines, footer=footer, more=more, later_footer=later)
    if notice and lines and len(pages) > 1 and lines[0] not in pages[0]:
        # The reason and the choices before the screen's own text, already read: a guest who
        # typed a wrong key sees her only option on the first page, not "98" alone.
        pages = paginate(_join(notice), lines, footer=footer, more=more, later_footer=later)
    page = min(page, len(pages) - 1)
    return Rendered(text=pages[page], end=end and page == len(pages) - 1, pages=len(pages))


def _join(texts: list[str]) -> str:
    return "\n".join(t for t in texts if t)


def _on_top(notice: str, page: str) -> str:
    """``notice`` above ``page``, dropping the page's last rows before its tail if need be."""
    rows = page.split("\n")
    text = "\n".join([notice, *rows])
    while length(text) > screen_limit(text) and len(rows) > 1:
        del rows[-2]  # keep the navigation row at the bottom
        text = "\n".join([notice, *rows])
    return text
