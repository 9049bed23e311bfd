"""What a decision answers: what happened, why it was refused, and the SMS it calls for.

A service returns an :class:`Outcome`; the channel (USSD, SMS, dashboard) renders it for
whoever reads the screen, and hands the :class:`Notice` messages to the outbox: each one is
rendered in its recipient's language by :func:`queue_notices`, and sent after the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from menus.model import cached_menu
from menus.numbers import plain

from .. import outbox
from ..exceptions import InsufficientStock, InvalidTransition
from ..models import Member, MessageKind, OutboundMessage


@dataclass(frozen=True)
class Money:
    """An amount, written to the centime (a bare Decimal is a quantity)."""

    amount: Decimal


@dataclass(frozen=True)
class Phrase:
    """A message of the catalog inside another one, rendered in the same language."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Notice:
    """An SMS a decision calls for: to whom, which message, with which values.

    ``to_actor``: a receipt for the person who decided. A USSD screen vanishes, so USSD sends
    it; an SMS reply or a dashboard page already says the same, so they do not.
    """

    member: Member
    key: str
    params: Mapping[str, Any] = field(default_factory=dict)
    to_actor: bool = False


@dataclass
class Outcome:
    """What a decision did: ``error`` is a key naming the refusal (None when done)."""

    error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    #: The row decided on (an order, a delivery, a product, a broadcast), when there is one.
    subject: Any = None
    notices: list[Notice] = field(default_factory=list)
    #: Work that needs the decision committed first (starting a broadcast's fan-out).
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the decision was taken."""
        return self.error is None

    def for_others(self) -> list[Notice]:
        """The notices for people other than the one who decided."""
        return [notice for notice in self.notices if not notice.to_actor]


def refused(error: str, subject: Any = None, **params: Any) -> Outcome:
    """An outcome refusing the decision for ``error``."""
    return Outcome(error=error, params=params, subject=subject)


def attempt(session: Session, subject: Any, name: str, run: Callable[[], object]) -> Outcome | None:
    """Run a decision on ``subject`` in a savepoint; None when done, else the refusal.

    A refused decision (``already_decided``, ``insufficient_stock``) is rolled back alone,
    leaving the caller's transaction (an inbound SMS stored first) as it was.
    """
    try:
        with session.begin_nested():
            run()
    except InvalidTransition:
        session.refresh(subject)
        return refused("already_decided", subject, **{name: subject.id},
                       status=str(subject.status))
    except InsufficientStock as short:
        return refused("insufficient_stock", subject, **{name: subject.id},
                       unit=subject.product.unit, available=Decimal(short.available),
                       requested=Decimal(short.requested))
    return None


def num(value: Decimal | int | str) -> str:
    """A quantity kept language-free (``2.5``): the catalog writes it the reader's way."""
    return plain(value)


def money(value: Decimal) -> str:
    """An amount kept language-free: the catalog rounds it and adds the currency."""
    return plain(value)


def _render(value: Any, lang: str) -> Any:
    if isinstance(value, Money):
        return money(value.amount)
    if isinstance(value, Decimal):
        return num(value)
    if isinstance(value, Phrase):
        return render(value.key, lang, value.params)
    if hasattr(value, "name_in"):
        return value.name_in(lang)
    return value


def render_params(params: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """``params`` written for ``lang``: numbers, amounts, product names, nested phrases."""
    return {name: _render(value, lang) for name, value in params.items()}


def render(key: str, lang: str, params: Mapping[str, Any], **extra: Any) -> str:
    """The catalog message ``key`` in ``lang``, its values written for that language."""
    return cached_menu().t(key, lang, **{**extra, **render_params(params, lang)})


def queue_notices(session: Session, notices: Sequence[Notice],
                  currency: str) -> list[OutboundMessage]:
    """Add each notice to the outbox in its recipient's language (the caller commits)."""
    return [
        outbox.add(session, to=notice.member.phone,
                   text=render(notice.key, str(notice.member.language), notice.params,
                               currency=currency),
                   kind=MessageKind.CONFIRMATION, member_id=notice.member.id,
                   cooperative_id=notice.member.cooperative_id)
        for notice in notices
    ]
