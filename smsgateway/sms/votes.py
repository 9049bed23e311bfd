"""VOTE by SMS: ``VOTE`` lists the open votes, ``VOTE 12 1`` (or ``VOTE 1`` with one open)
casts or changes a vote, the same service as the USSD menu."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..exceptions import InvalidTransition
from ..models import Resolution
from ..services import votes
from . import parse
from .parse import Command
from .texts import text

if TYPE_CHECKING:
    from .dispatch import Context


def vote(ctx: Context, command: Command) -> str:
    """List the member's open votes, or cast one."""
    lang = ctx.lang
    member = ctx.member
    open_now = votes.open_resolutions(ctx.session, member.cooperative_id, member=member)
    if not open_now:
        return text("no_votes", lang)
    numbers = [n for n in (parse.integer(word) for word in command.args) if n is not None]
    by_id = {r.id: r for r in open_now}
    if len(numbers) == 1 and len(open_now) == 1:
        numbers = [open_now[0].id, numbers[0]]
    if len(numbers) != 2 or numbers[0] not in by_id:
        items = "; ".join(f"#{r.id} {_title(r, lang)} " + " ".join(
            f"{i}={c}" for i, c in enumerate(_choices(r, lang), 1)) for r in open_now[:3])
        return text("votes_open", lang, items=items, example=f"{open_now[0].id} 1")
    resolution = by_id[numbers[0]]
    choices = _choices(resolution, lang)
    if not 1 <= numbers[1] <= len(choices):
        return text("vote_usage", lang, id=resolution.id, count=len(choices))
    try:
        votes.cast_vote(ctx.session, member, resolution, numbers[1] - 1, ctx.channel)
    except (InvalidTransition, PermissionError):
        return text("no_votes", lang)
    return text("sms_vote", lang, choice=choices[numbers[1] - 1],
                resolution=_title(resolution, lang),
                closes=f"{resolution.closes_at:%d/%m/%Y}")


def _title(resolution: Resolution, lang: str) -> str:
    return resolution.titles.get(lang) or resolution.titles.get("fr", "")


def _choices(resolution: Resolution, lang: str) -> list[str]:
    return list(resolution.choices.get(lang) or resolution.choices.get("fr") or [])
