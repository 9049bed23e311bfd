"""One USSD hop: from the provider's neutral :class:`UssdIn` to the screen to send back.

``webhooks -> sessions.load -> menus.machine -> actions (database) -> sessions.save``. No
provider call and no queue wait happen here: confirmation SMS are enqueued after commit.
"""

from __future__ import annotations

import logging

from flask import current_app

from handlers.base import UssdIn, UssdOut
from menus import machine
from menus.model import Menu, cached_menu

from . import actions, sessions
from .config import Settings
from .models import Member
from .phones import normalize_phone
from .redisconn import get_redis
from .services.members import members_by_phone

log = logging.getLogger(__name__)

#: The longest sessionId or text kept; providers send far less, anything longer is noise.
MAX_FIELD = 200
BUSY = {"fr": "Patientez puis recomposez le code.", "ar": "انتظر ثم أعد الاتصال."}


def get_menu() -> Menu:
    """The menu, parsed once per process."""
    return cached_menu()


def _start(ctx: actions.Context, menu: Menu, text: str) -> machine.State:
    """The state of a new session: the member's home in her language, or the guest screen."""
    member = _find_member(ctx)
    if member is None:
        return machine.new_state(menu, role="guest", lang="fr")
    ctx.member_id = member.id
    ctx._member = member
    state = machine.new_state(
        menu, role=str(member.role), lang=str(member.language),
        vars={"name": (member.name or "").split(" ")[0], "me": member.id,
              "coop": member.cooperative_id})
    ctx.cooperative_id = member.cooperative_id
    snapshot = sessions.load_resume(ctx.redis, ctx.phone) if not text else None
    if snapshot and snapshot.get("vars", {}).get("me") == member.id and machine.resumable(
            snapshot):
        return machine.resume_offer(menu, snapshot)
    return state


def _find_member(ctx: actions.Context) -> Member | None:
    try:
        phone = normalize_phone(ctx.phone)
    except ValueError:
        return None
    found = members_by_phone(ctx.db, phone)
    return found[0] if found else None


def handle(hop: UssdIn) -> UssdOut:
    """Answer one hop; replays of a handled ``text`` get the same screen and no side effect."""
    settings: Settings = current_app.config["SETTINGS"]
    client = get_redis()
    menu = get_menu()
    session_id = hop.session_id[:MAX_FIELD]
    text = hop.text[:MAX_FIELD]
    with sessions.hop(client, session_id) as current:
        stored = current.stored
        if not current.acquired:
            # The first copy of this hop is still running: answer from what is stored.
            if stored is not None and stored.text == text:
                return UssdOut(stored.screen, stored.end)
            return UssdOut("\n".join(BUSY.values()), end=True)
        if stored is not None and stored.phone != hop.phone:
            log.warning("USSD session %s reused by another phone", session_id)
            return UssdOut("\n".join(BUSY.values()), end=True)
        verdict, inputs = sessions.classify(stored.text if stored else None, text)
        if verdict == "replay" and stored is not None:
            return UssdOut(stored.screen, stored.end)
        ctx = actions.Context(menu=menu, settings=settings, redis=client, phone=hop.phone,
                              session_id=session_id)
        try:
            if stored is None or verdict == "home":
                state = _start(ctx, menu, text)
            else:
                state = stored.state
                ctx.member_id = state["vars"].get("me")
                ctx.cooperative_id = state["vars"].get("coop")
            state, screen = _apply(menu, state, inputs, ctx)
        finally:
            ctx.close()
        current.save(session_id, sessions.Stored(
            phone=hop.phone, text=text, state=state, screen=screen.text, end=screen.end),
            settings.ussd.session_ttl_seconds)
        if state.get("role") != "guest":
            if screen.end or state["screen"] == state["home"]:
                current.drop_resume(hop.phone)
            elif machine.resumable(state):
                current.save_resume(hop.phone, state, settings.ussd.resume_window_seconds)
        return UssdOut(screen.text, screen.end)


def _apply(menu: Menu, state: machine.State, inputs: list[str],
           ctx: actions.Context) -> tuple[machine.State, machine.Rendered]:
    def run(call: machine.Call) -> machine.Result:
        return actions.run(ctx, call)

    screen: machine.Rendered | None = None
    for part in inputs:
        state, screen = machine.drive(menu, state, part, run)
        if screen.end:
            break
    if screen is None:
        state, screen = machine.drive(menu, state, None, run)
    return state, screen


def session_ended(session_id: str, phone: str, status: str) -> None:
    """The provider says the session is over: drop its state (a drop keeps the resume offer)."""
    client = get_redis()
    sessions.drop(client, session_id[:MAX_FIELD])
    if status == "Success":
        sessions.drop_resume(client, phone)
