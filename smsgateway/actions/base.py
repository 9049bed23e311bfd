"""What every menu action shares: the hop's :class:`Context`, the ``@action`` mark, PIN and
role checks, and how a decision is committed and refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import redis
from sqlalchemy.orm import Session

from menus.machine import Call, Result
from menus.model import Menu

from .. import outbox
from ..config import Settings
from ..db import get_db
from ..models import Member
from ..services import pins
from ..services.outcome import Outcome, queue_notices, render_params

log = logging.getLogger(__name__)

Action = Callable[["Context", Call], Result]
#: The attribute :func:`action` marks a function with: the name the menu YAML calls it by.
ACTION_NAME = "menu_action"


def action(name: str) -> Callable[[Action], Action]:
    """Mark a function as the action ``name`` the menu YAML refers to (see ``build_actions``)."""

    def mark(func: Action) -> Action:
        setattr(func, ACTION_NAME, name)
        return func

    return mark


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
    _session: Session | None = field(default=None, repr=False)
    _member: Member | None = field(default=None, repr=False)

    @property
    def session(self) -> Session:
        """The hop's database session."""
        if self._session is None:
            self._session = get_db().sessionmaker()
        return self._session

    @property
    def member(self) -> Member:
        """The member dialling (actions for members only run when there is one)."""
        if self._member is None:
            if self.member_id is None:
                raise PermissionError("no member on this session")
            self._member = self.session.get(Member, self.member_id)
            if self._member is None or not self._member.active:
                raise PermissionError("the member is gone")
        return self._member

    @property
    def currency(self) -> str:
        """The cooperative's currency code."""
        return self.settings.defaults.currency

    def close(self) -> None:
        """Close the database session, if one was opened."""
        if self._session is not None:
            self._session.close()
            self._session = None
            self._member = None


def run(table: Mapping[str, Action], ctx: Context, call: Call) -> Result:
    """Run the action ``call`` names; any unexpected error is a short message, never a 500."""
    func = table.get(call.name)
    if func is None:
        log.error("menu refers to unknown action %r", call.name)
        return Result(ok=False, error="error")
    try:
        return func(ctx, call)
    except Exception:
        log.exception("USSD action %s failed (session %s)", call.name, ctx.session_id)
        if ctx._session is not None:
            ctx._session.rollback()
        return Result(ok=False, error="error")


def pin_refusal(ctx: Context, call: Call) -> Result | None:
    """None when the PIN is right (checked by :mod:`~smsgateway.services.pins`); else the screen."""
    ussd = ctx.settings.ussd
    checked = pins.check_member_pin(ctx.redis, ctx.member, call.pin or "",
                                    attempts=ussd.pin_attempts,
                                    lockout_minutes=ussd.pin_lockout_minutes)
    if checked.error == "pin_wrong":
        return Result(ok=False, error="pin_wrong", retry=True,
                      error_params={"left": checked.left})
    if checked.error == "pin_locked":
        return Result(ok=False, error="pin_locked", end=True,
                      error_params={"minutes": checked.minutes})
    if checked.error:
        return Result(ok=False, error=checked.error, end=True)
    return None


def coordinator_only(ctx: Context) -> Result | None:
    """None for a coordinator; the refusal for anyone else."""
    if not ctx.member.is_coordinator:
        return Result(ok=False, error="not_allowed")
    return None


def finish(ctx: Context, outcome: Outcome) -> None:
    """Commit a decision, then send the SMS it calls for and start what waits for the commit.

    A USSD screen vanishes, so the person who decided gets her receipt by SMS too.
    """
    messages = queue_notices(ctx.session, outcome.notices, ctx.currency)
    outbox.commit_and_send(ctx.session, messages, ctx.redis)
    for then in outcome.after_commit:
        then()


def refusal(ctx: Context, call: Call, outcome: Outcome, not_found: str = "error") -> Result:
    """The screen for a refused decision: the service's reason, when the menu has words for it."""
    error = not_found if outcome.error == "not_found" else str(outcome.error)
    if error not in ctx.menu.catalog:
        error = "error"
    return Result(ok=False, error=error, error_params=render_params(outcome.params, call.lang))
