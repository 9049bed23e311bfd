"""One USSD hop: from the provider's neutral :class:`UssdIn` to the screen to send back.

``webhooks -> sessions.load -> menus.machine -> actions (database) -> sessions.save``. No
provider call and no queue wait happen here: confirmation SMS are enqueued after commit.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from sqlalchemy import Row, bindparam, select

from handlers.base import UssdIn, UssdOut
from menus import machine
from menus.catalog import all_languages
from menus.machine import COOP, ME
from menus.model import CHOOSER, GUEST, HAS_PIN, Menu, cached_menu

from . import actions, sessions
from .config import Settings
from .models import Cooperative, Member, PhoneCredential
from .phones import normalize_phone
from .services import coops
from .sessions import Verdict

log = logging.getLogger(__name__)

#: The longest sessionId or text kept; providers send far less, anything longer is noise.
MAX_FIELD = 200
#: Memberships one phone is offered on the first screen (one screen's worth).
MAX_MEMBERSHIPS = 8
#: Shown in French and Arabic (we may not know who is calling); texts in the catalog.
BUSY = all_languages("busy")
UNAVAILABLE = all_languages("unavailable")


# Built once: it runs on the first hop of every session.
_MEMBERS_BY_PHONE = (
    select(Member.id, Member.cooperative_id, Member.name, Member.role, Member.language,
           PhoneCredential.pin_hash.is_not(None).label("has_pin"),
           Cooperative.ussd_code)
    .join(Cooperative, Cooperative.id == Member.cooperative_id)
    .outerjoin(PhoneCredential, PhoneCredential.phone == Member.phone)
    .where(Member.phone == bindparam("phone"), Member.active.is_(True))
    .order_by(Member.id).limit(MAX_MEMBERSHIPS)
)
#: Dial-string inputs a member of several cooperatives typed before choosing one: they are
#: applied once she has chosen (``*384*123*2#`` still leads to "record a delivery").
REPLAY = "replay"


#: What the menu's ``do`` and ``load`` names run, built once from the action modules.
ACTIONS = actions.build_actions()


def get_menu() -> Menu:
    """The menu, parsed once per process."""
    return cached_menu()


def _start(ctx: actions.Context, menu: Menu, text: str, snapshot: machine.State | None,
           service_code: str, inputs: list[str]) -> tuple[machine.State, list[str]]:
    """The state of a new session and the inputs left to apply to it.

    One membership: her home in her language. Several: the cooperative whose own service
    code she dialled, or whose extension starts her dial string; else she chooses first.
    An unknown number: the guest screen.
    """
    rows = _find_members(ctx)
    if not rows:
        # An unknown caller asks to join the cooperative whose code or extension she dialled.
        coop = coops.for_ussd_code(ctx.session, service_code)
        if coop is None and inputs:
            coop = coops.for_ussd_code(ctx.session, inputs[0])
            inputs = inputs[1:] if coop is not None else inputs
        ctx.cooperative_id = coop.id if coop is not None else None
        state = machine.new_state(menu, role=GUEST, lang="fr",
                                  vars={COOP: coop.id} if coop is not None else {})
        return state, inputs
    own = [r for r in rows if r.ussd_code and r.ussd_code == service_code]
    if own:
        rows = own
    elif inputs and any(r.ussd_code == inputs[0] for r in rows):
        rows, inputs = [r for r in rows if r.ussd_code == inputs[0]], inputs[1:]
    if len(rows) > 1:
        first = rows[0]
        state = machine.new_state(menu, role=CHOOSER, lang=str(first.language),
                                  vars={REPLAY: inputs})
        return state, []
    return _member_state(ctx, menu, rows[0], text, snapshot), inputs


def _member_state(ctx: actions.Context, menu: Menu, member: Row[Any], text: str,
                  snapshot: machine.State | None) -> machine.State:
    ctx.member_id, ctx.cooperative_id = member.id, member.cooperative_id
    state = machine.new_state(
        menu, role=str(member.role), lang=str(member.language),
        vars={"name": (member.name or "").split(" ")[0], ME: member.id,
              COOP: member.cooperative_id, HAS_PIN: bool(member.has_pin)})
    # A dial string (non-empty first text) says where she wants to go: no offer then.
    if not text and snapshot is not None and snapshot.get("vars", {}).get(ME) == member.id:
        if _usable(menu, snapshot) and machine.resumable(snapshot, menu):
            return machine.resume_offer(menu, snapshot)
    return state


def _find_members(ctx: actions.Context) -> list[Row[Any]]:
    """The caller's active memberships (columns only: this runs on every new session)."""
    try:
        phone = normalize_phone(ctx.phone, ctx.settings.defaults.region)
    except ValueError:
        return []
    return list(ctx.session.execute(_MEMBERS_BY_PHONE, {"phone": phone}))


def handle(hop: UssdIn, settings: Settings, client: redis.Redis) -> UssdOut:
    """Answer one hop; replays of a handled ``text`` get the same screen and no side effect.

    Without Redis no session can be kept: the phone gets a short "busy, dial again" screen
    (an HTTP error would show as a network failure), and dialling works again once it is back.
    """
    try:
        return _handle(hop, settings, client)
    except redis.RedisError as error:
        log.warning("USSD hop answered busy: Redis unavailable (%s)", type(error).__name__)
        return UssdOut(BUSY, end=True)


def _handle(hop: UssdIn, settings: Settings, client: redis.Redis) -> UssdOut:
    menu = get_menu()
    session_id = hop.session_id[:MAX_FIELD]
    text = hop.text[:MAX_FIELD]
    with sessions.hop(client, session_id, hop.phone[:MAX_FIELD]) as current:
        stored = current.stored
        if not current.acquired:
            # The first copy of this hop is still running: answer from what is stored.
            if stored is not None and stored.text == text:
                return UssdOut(stored.screen, stored.end)
            return UssdOut(BUSY, end=True)
        if stored is not None and stored.phone != hop.phone:
            log.warning("USSD session %s reused by another phone", session_id)
            return UssdOut(BUSY, end=True)
        verdict, inputs = sessions.classify(stored.text if stored else None, text)
        if verdict is Verdict.REPLAY and stored is not None:
            return UssdOut(stored.screen, stored.end)
        ctx = actions.Context(menu=menu, settings=settings, redis=client, phone=hop.phone,
                              session_id=session_id)
        try:
            if stored is None or verdict is Verdict.HOME or not _usable(menu, stored.state):
                state, inputs = _start(ctx, menu, text, current.resume, hop.service_code,
                                       inputs)
            else:
                state = stored.state
                ctx.member_id = state["vars"].get(ME)
                ctx.cooperative_id = state["vars"].get(COOP)
            state, screen = _apply(menu, state, inputs, ctx)
        except Exception:
            # A bug must cost the member one session, never a 500 the phone shows as garbage.
            log.exception("USSD hop failed (session %s)", session_id)
            return UssdOut(UNAVAILABLE, end=True)
        finally:
            ctx.close()
        current.save(sessions.Stored(
            phone=hop.phone, text=text, state=state, screen=screen.text, end=screen.end),
            settings.ussd.session_ttl_seconds)
        if state.get("role") != GUEST:
            if screen.end or state["screen"] == state["home"]:
                current.drop_resume()
            elif machine.resumable(state, menu):
                current.save_resume(state, settings.ussd.resume_window_seconds)
        return UssdOut(screen.text, screen.end)


def _usable(menu: Menu, state: machine.State) -> bool:
    """Whether a stored state still fits the menu (a deploy may have renamed a screen)."""
    try:
        return state["screen"] in menu.screens and state["home"] in menu.screens
    except (KeyError, TypeError):
        return False


def _apply(menu: Menu, state: machine.State, inputs: list[str],
           ctx: actions.Context) -> tuple[machine.State, machine.Rendered]:
    def run(call: machine.Call) -> machine.Result:
        return actions.run(ACTIONS, ctx, call)

    screen: machine.Rendered | None = None
    for part in inputs:
        state, screen = machine.drive(menu, state, part, run)
        if screen.end:
            break
        if state["vars"].get(REPLAY) and state["vars"].get(ME):
            # She has just chosen her cooperative: now the dial string she came with.
            replay = state["vars"].pop(REPLAY)
            for again in replay:
                state, screen = machine.drive(menu, state, again, run)
                if screen.end:
                    break
            if screen.end:
                break
    if screen is None:
        state, screen = machine.drive(menu, state, None, run)
    return state, screen


def session_ended(client: redis.Redis, session_id: str, phone: str, status: str) -> None:
    """The provider says the session is over: drop its state (a drop keeps the resume offer)."""
    sessions.drop(client, session_id[:MAX_FIELD])
    if status == "Success":
        sessions.drop_resume(client, phone)
