"""What menus may do, by name: loaders that fetch what a screen shows, and decisions.

Every action takes the hop's :class:`Context` and the machine's :class:`~menus.machine.Call`
and answers a :class:`~menus.machine.Result`. Decisions commit their own transaction and
enqueue the confirmation SMS only after the commit.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import redis
from sqlalchemy.orm import Session

from menus.machine import Call, Result
from menus.model import Menu
from menus.numbers import plain

from .. import outbox
from ..config import Settings
from ..db import get_db
from ..models import Member, MessageKind, OutboundMessage
from ..services.members import verify_pin
from ..sessions import PinGuard

log = logging.getLogger(__name__)

Action = Callable[["Context", Call], Result]
ACTIONS: dict[str, Action] = {}


def action(name: str) -> Callable[[Action], Action]:
    """Register a function as the action ``name`` the menu YAML refers to."""

    def register(func: Action) -> Action:
        ACTIONS[name] = func
        return func

    return register


@dataclass
class Context:
    """Who is dialling and the connections one hop may use (the database opens on demand)."""

    menu: Menu
    settings: Settings
    redis: redis.Redis
    phone: str
    session_id: str
    member_id: int | None = None
    cooperative_id: int | None = None
    _db: Session | None = field(default=None, repr=False)
    _member: Member | None = field(default=None, repr=False)

    @property
    def db(self) -> Session:
        """The hop's database session."""
        if self._db is None:
            self._db = get_db().sessionmaker()
        return self._db

    @property
    def member(self) -> Member:
        """The member dialling (actions for members only run when there is one)."""
        if self._member is None:
            if self.member_id is None:
                raise PermissionError("no member on this session")
            self._member = self.db.get(Member, self.member_id)
            if self._member is None or not self._member.active:
                raise PermissionError("the member is gone")
        return self._member

    @property
    def currency(self) -> str:
        """The cooperative's currency code."""
        return self.settings.defaults.currency

    def close(self) -> None:
        """Close the database session, if one was opened."""
        if self._db is not None:
            self._db.close()
            self._db = None
            self._member = None


def run(ctx: Context, call: Call) -> Result:
    """Run the action ``call`` names; any unexpected error is a short message, never a 500."""
    func = ACTIONS.get(call.name)
    if func is None:
        log.error("menu refers to unknown action %r", call.name)
        return Result(ok=False, error="error")
    try:
        return func(ctx, call)
    except Exception:
        log.exception("USSD action %s failed (session %s)", call.name, ctx.session_id)
        if ctx._db is not None:
            ctx._db.rollback()
        return Result(ok=False, error="error")


def check_pin(ctx: Context, call: Call) -> Result | None:
    """None when the PIN is right; otherwise the answer (wrong, locked, none set)."""
    member = ctx.member
    ussd = ctx.settings.ussd
    guard = PinGuard(ctx.redis, ussd.pin_attempts, ussd.pin_lockout_minutes)
    locked = guard.locked_for(member.id)
    if locked:
        return Result(ok=False, error="pin_locked", end=True,
                      error_params={"minutes": math.ceil(locked / 60)})
    if not member.pin_hash:
        return Result(ok=False, error="no_pin", end=True)
    if not verify_pin(member, call.pin or ""):
        left = guard.failed(member.id)
        log.info("wrong PIN for member %s (%s attempts left)", member.id, left)
        if left == 0:
            return Result(ok=False, error="pin_locked", end=True,
                          error_params={"minutes": ussd.pin_lockout_minutes})
        return Result(ok=False, error="pin_wrong", retry=True, error_params={"left": left})
    guard.succeeded(member.id)
    return None


def coordinator_only(ctx: Context) -> Result | None:
    """None for a coordinator; the refusal for anyone else."""
    if not ctx.member.is_coordinator:
        return Result(ok=False, error="not_allowed")
    return None


def confirmation(ctx: Context, member: Member, key: str, **params: Any) -> OutboundMessage:
    """Add the SMS that confirms a decision to ``member``, in her language."""
    text = ctx.menu.t(key, str(member.language), currency=ctx.currency, **params)
    return outbox.add(ctx.db, to=member.phone, text=text, kind=MessageKind.CONFIRMATION,
                      member_id=member.id)


def num(value: Decimal | int | str) -> str:
    """A quantity kept language-free (``2.5``): the catalog writes it the reader's way."""
    return plain(value)


def money(value: Decimal) -> str:
    """An amount kept language-free: the catalog rounds it and adds the currency."""
    return plain(value)


from . import coordinators, members  # noqa: E402,F401  (actions register themselves)
