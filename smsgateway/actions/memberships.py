"""A member of several cooperatives on a shared code chooses which one she is calling."""

from __future__ import annotations

from menus.machine import COOP, ME, Call, Result
from menus.model import HAS_PIN

from ..models import Cooperative, Member
from ..phones import try_normalize
from ..services import pins
from .base import Context, action


def _memberships(ctx: Context) -> list[tuple[Member, Cooperative]]:
    phone = try_normalize(ctx.phone, ctx.settings.defaults.region)
    if phone is None:
        return []
    rows = ctx.session.query(Member, Cooperative).join(
        Cooperative, Cooperative.id == Member.cooperative_id).filter(
        Member.phone == phone, Member.active.is_(True)).order_by(Member.id)
    return [(m, c) for m, c in rows]


@action("memberships")
def memberships(ctx: Context, call: Call) -> Result:
    """Her cooperatives, to choose from."""
    return Result(items=[{"id": m.id, "label": c.name[:30]} for m, c in _memberships(ctx)])


@action("choose_membership")
def choose_membership(ctx: Context, call: Call) -> Result:
    """She is now this member of that cooperative, in her language there, with her role."""
    chosen = int(call.vars["membership"])
    for member, _coop in _memberships(ctx):
        if member.id == chosen:
            ctx.member_id, ctx.cooperative_id = member.id, member.cooperative_id
            return Result(params={ME: member.id, COOP: member.cooperative_id,
                                  "name": (member.name or "").split(" ")[0],
                                  HAS_PIN: pins.has_pin(ctx.session, member.phone)},
                          lang=str(member.language), role=str(member.role))
    return Result(ok=False, error="error", end=True)
