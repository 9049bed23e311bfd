"""Choosing a PIN with a one-time code, and changing it: the menu's PIN screens.

The PIN typed first is kept in the session only as a hash, until she types it again; the
code she typed, likewise, only as the stored code's hash once it was found right.
"""

from __future__ import annotations

from menus.machine import Call, Result
from menus.model import HAS_PIN

from ..db import utcnow
from ..models import Channel
from ..security import check_pin
from ..services import audit, pin_codes, pins
from .base import Context, action, pin_refusal

NEW_PIN_HASH = "new_pin_hash"
CODE_HASH = "pin_code_hash"


@action("pin_code_status")
def pin_code_status(ctx: Context, call: Call) -> Result:
    """Before asking for a code: is one waiting for her? (Else: ask the coordinator.)"""
    found = pins.credential(ctx.session, ctx.member.phone)
    if found is None or not found.code_usable(utcnow()):
        return Result(ok=False, error="no_pin", end=True)
    return Result()


@action("check_pin_code")
def check_pin_code(ctx: Context, call: Call) -> Result:
    """The one-time code, counted against the same lockout as her PIN."""
    ussd = ctx.settings.ussd
    checked = pins.check_code(ctx.redis, ctx.session, ctx.member.phone, call.pin or "",
                              attempts=ussd.pin_attempts,
                              lockout_minutes=ussd.pin_lockout_minutes)
    if checked.error == "pin_wrong":
        return Result(ok=False, error="code_wrong", retry=True,
                      error_params={"left": checked.left})
    if checked.error == "pin_locked":
        return Result(ok=False, error="pin_locked", end=True,
                      error_params={"minutes": checked.minutes})
    if checked.error:
        return Result(ok=False, error="no_code", end=True)
    found = pins.credential(ctx.session, ctx.member.phone)
    assert found is not None and found.code_hash is not None
    return Result(params={CODE_HASH: found.code_hash})


@action("choose_pin")
def choose_pin(ctx: Context, call: Call) -> Result:
    """The first typing of a new PIN: refused when too easy, else kept hashed."""
    problem = pin_codes.new_pin_problem(call.pin or "")
    if problem:
        return Result(ok=False, error=problem, retry=True)
    return Result(params={NEW_PIN_HASH: pin_codes.pending_pin_hash(call.pin or "")})


def _same_pin(call: Call) -> bool:
    return check_pin(str(call.vars.get(NEW_PIN_HASH) or ""), call.pin or "")


@action("set_pin_with_code")
def set_pin_with_code(ctx: Context, call: Call) -> Result:
    """The second typing: the PIN is set and the code used up, in one step."""
    if not _same_pin(call):
        return Result(ok=False, error="pin_mismatch", retry=True)
    member = ctx.member
    done = pins.set_pin_with_code(ctx.session, member.phone, str(call.vars.get(CODE_HASH)),
                                  str(call.vars[NEW_PIN_HASH]))
    if not done:
        ctx.session.rollback()
        return Result(ok=False, error="no_code", end=True)
    audit.record(ctx.session, "pin.set", "member", member.id, channel=Channel.USSD,
                 actor=member)
    ctx.session.commit()
    return Result(params={HAS_PIN: True, NEW_PIN_HASH: "", CODE_HASH: ""})


@action("check_current_pin")
def check_current_pin(ctx: Context, call: Call) -> Result:
    """Before a new PIN: the current one."""
    return pin_refusal(ctx, call) or Result()


@action("change_pin")
def change_pin(ctx: Context, call: Call) -> Result:
    """The second typing of her new PIN replaces the old one."""
    if not _same_pin(call):
        return Result(ok=False, error="pin_mismatch", retry=True)
    member = ctx.member
    pins.change_pin(ctx.session, member.phone, str(call.vars[NEW_PIN_HASH]))
    audit.record(ctx.session, "pin.change", "member", member.id, channel=Channel.USSD,
                 actor=member)
    ctx.session.commit()
    return Result(params={NEW_PIN_HASH: ""})
