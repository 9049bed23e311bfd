"""Which channel carries a message: the one decision of routing.

- A reply goes back on the channel its message came in on (while it takes work; else on its
  cooperative's pool).
- Anything else to a cooperative's members goes on that cooperative's active channels, else
  on the shared ones; with no channel record at all, on the provider configured in the
  environment, kept as a shared channel the gateway creates on first use (so a gateway set up
  before channels existed behaves as before).
- A pool of several channels shares a broadcast in proportion to each channel's rate.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handlers import africastalking, console, twilio

from ..config import Settings
from ..models.channels import ENVIRONMENT, Channel, ChannelState

EXTENSION = "smsgateway.environment-channels"


def environment_name(kind: str) -> str:
    """The name of the channel the gateway keeps for an environment provider."""
    return f"{kind} (environment)"


def environment_channel_id(session: Session, kind: str, *, commit_new: bool = False) -> int:
    """The id of the shared channel of the environment's provider ``kind`` (made if missing).

    Made in the caller's transaction (a savepoint: two processes making it at once is not an
    error), and committed at once with ``commit_new`` (a caller with nothing else pending,
    such as a webhook before it reads the message: a later rollback must not take the channel
    its message names with it). An id is kept per app only once it is known to be written:
    one made in a transaction that is then rolled back would name a channel that is not there.
    """
    cache: dict[str, int] = current_app.extensions.setdefault(EXTENSION, {})
    if kind in cache:
        return cache[kind]
    name = environment_name(kind)
    unsure: set[int] = session.info.setdefault(EXTENSION, set())
    found = session.scalar(select(Channel.id).where(Channel.name == name))
    if found is not None:
        if found not in unsure:
            cache[kind] = found
        return found
    try:
        with session.begin_nested():
            channel = Channel(kind=kind, name=name, cooperative_id=None,
                              settings={"source": ENVIRONMENT}, health={})
            session.add(channel)
    except IntegrityError:  # another process made it meanwhile
        found = session.scalar(select(Channel.id).where(Channel.name == name))
        assert found is not None
        return found
    if commit_new:
        session.commit()
        cache[kind] = channel.id
    else:
        unsure.add(channel.id)
    return channel.id


def environment_kinds(settings: Settings) -> list[str]:
    """The environment's providers that a message may name: the sending one, and those whose
    webhooks take members' SMS (Africa's Talking's form serves the console when unset)."""
    kinds = {settings.sms_provider,
             africastalking.NAME if settings.africastalking.configured else console.NAME}
    if settings.twilio.configured:
        kinds.add(twilio.NAME)
    return sorted(kinds)


def ensure_environment_channels(session: Session, settings: Settings) -> list[int]:
    """Make the environment's shared channels now, before any web process serves (``db
    upgrade``, ``smsgateway dev``); their ids.

    Made by the first webhooks instead, on a fresh SQLite database two web processes' threads
    making one at once stalled every request behind SQLite's 30 s busy timeout (then 503).
    """
    return [environment_channel_id(session, kind, commit_new=True)
            for kind in environment_kinds(settings)]


def _records(session: Session, cooperative_id: int | None) -> list[Channel]:
    owner = (Channel.cooperative_id.is_(None) if cooperative_id is None
             else Channel.cooperative_id == cooperative_id)
    rows = session.scalars(select(Channel).where(owner, Channel.state == ChannelState.ACTIVE)
                           .order_by(Channel.id))
    return [c for c in rows if not c.from_environment]


def pool(session: Session, settings: Settings, cooperative_id: int | None) -> list[Channel]:
    """The channels that carry ``cooperative_id``'s messages now (never empty)."""
    if cooperative_id is not None:
        own = _records(session, cooperative_id)
        if own:
            return own
    shared = _records(session, None)
    if shared:
        return shared
    channel = session.get(Channel, environment_channel_id(session, settings.sms_provider))
    assert channel is not None
    return [channel]


def pick(session: Session, settings: Settings, *,
         cooperative_id: int | None = None, reply_to_channel: int | None = None,
         provider: str | None = None) -> Channel:
    """The channel of one message (see the module docstring); ``provider``: that one's."""
    if provider is not None:
        channel = session.get(Channel, environment_channel_id(session, provider))
        assert channel is not None
        return channel
    if reply_to_channel is not None:
        channel = session.get(Channel, reply_to_channel)
        if channel is not None and channel.state == ChannelState.ACTIVE:
            return channel
        if channel is not None:
            cooperative_id = channel.cooperative_id
    return max(pool(session, settings, cooperative_id), key=weight)


def weight(channel: Channel) -> float:
    """A channel's share of a pool: its hourly rate (unlimited channels count as fast)."""
    if channel.rate_per_hour:
        return float(channel.rate_per_hour)
    if channel.rate_per_minute:
        return channel.rate_per_minute * 60.0
    return 1_000_000.0


def spread(weights: Sequence[float], count: int) -> list[int]:
    """``count`` slots dealt over channels (their indexes) in proportion to ``weights``.

    Smooth weighted round robin (as nginx balances upstreams): each channel gains its
    weight, the richest takes the slot and pays the total, so shares are exact over any run
    and no channel gets a long streak.
    """
    total = sum(weights)
    current = [0.0] * len(weights)
    out: list[int] = []
    for _ in range(count):
        for i, w in enumerate(weights):
            current[i] += w
        best = max(range(len(weights)), key=current.__getitem__)
        current[best] -= total
        out.append(best)
    return out


def used_by(session: Session, cooperative_ids: Sequence[int] | None) -> list[Channel]:
    """Every channel the cooperatives may send through, whatever its state: their own and
    the shared ones they fall back to (``None``: every channel, for an administrator)."""
    query = select(Channel).order_by(Channel.cooperative_id.is_(None), Channel.id)
    if cooperative_ids is not None:
        query = query.where(Channel.cooperative_id.in_(list(cooperative_ids))
                            | Channel.cooperative_id.is_(None))
    return list(session.scalars(query))
