"""Resolutions for a general assembly: set up, opened, closed, counted, told to the members.

Once a vote is cast, only the closing time may change. Results count one vote per member
who may vote (her last one before closing: a vote is changed in place, and none is taken
after closing), with the turnout and whether the quorum was met; on closing they reach every
member who may vote by SMS, in her language, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .. import outbox
from ..db import utcnow
from ..exceptions import Refused
from ..models import Cooperative, Group, Member, OutboundMessage, Resolution, Vote
from ..models.coop import Language, member_groups
from ..models.messaging import MessageKind
from . import audit
from .accounts import Actor, record, require_cooperative
from .outcome import render

LANGS = tuple(lang.value for lang in Language)


def _texts(titles: dict[str, str], choices: dict[str, list[str]]) -> tuple[dict, dict]:
    titles = {k: v.strip() for k, v in titles.items() if v and v.strip()}
    choices = {k: [c.strip() for c in v if c.strip()] for k, v in choices.items() if v}
    for lang in (*titles, *choices):
        if lang not in LANGS:
            raise Refused("language", f"unknown language {lang!r}")
    if "fr" not in titles:
        raise Refused("question", "a French question is needed (--question-fr)")
    if any(len(t) > 120 for t in titles.values()):
        raise Refused("question", "at most 120 characters (it must fit a USSD screen)")
    if "fr" not in choices or len(choices["fr"]) < 2:
        raise Refused("choices", "at least two choices in French (--choices-fr 'Oui,Non')")
    count = len(choices["fr"])
    for lang, options in choices.items():
        if len(options) != count:
            raise Refused("choices", f"{lang} has {len(options)} choices, French has {count}")
        if any(len(c) > 40 for c in options):
            raise Refused("choices", "at most 40 characters each")
    for lang in titles:
        if lang not in choices:
            raise Refused("choices", f"the question is in {lang}: give its choices too")
    return titles, choices


def _times(opens_at: datetime, closes_at: datetime, now: datetime) -> None:
    if closes_at <= opens_at:
        raise Refused("closes", "the closing time is before the opening")
    if closes_at <= now:
        raise Refused("closes", "the closing time has passed")


def _groups(session: Session, coop: Cooperative, names: list[str]) -> list[str]:
    names = sorted({n.strip() for n in names if n.strip()})
    known = set(session.scalars(select(Group.name).where(Group.cooperative_id == coop.id,
                                                         Group.name.in_(names))))
    missing = [n for n in names if n not in known]
    if missing:
        raise Refused("voters", f"no group {missing[0]!r} in {coop.slug}")
    return names


def create_resolution(session: Session, actor: Actor, coop: Cooperative, *,
                      titles: dict[str, str], choices: dict[str, list[str]],
                      closes_at: datetime, opens_at: datetime | None = None,
                      voter_groups: Sequence[str] = (), quorum_percent: int = 0) -> Resolution:
    """A resolution put to the members (or to some groups); the caller commits."""
    require_cooperative(session, actor, coop.id)
    now = utcnow()
    titles, choices = _texts(titles, choices)
    opens_at = opens_at or now
    _times(opens_at, closes_at, now)
    if not 0 <= quorum_percent <= 100:
        raise Refused("quorum", "a percentage from 0 to 100")
    resolution = Resolution(cooperative_id=coop.id, titles=titles, choices=choices,
                            opens_at=opens_at, closes_at=closes_at,
                            voter_groups=_groups(session, coop, list(voter_groups)),
                            quorum_percent=quorum_percent, created_by_label=actor.label)
    session.add(resolution)
    session.flush()
    record(session, actor, "resolution.create", "resolution", resolution.id, coop.id,
           opens_at=opens_at.isoformat(), closes_at=closes_at.isoformat(),
           quorum_percent=quorum_percent, voter_groups=resolution.voter_groups)
    return resolution


def find_resolution(session: Session, actor: Actor, resolution_id: int) -> Resolution:
    """The resolution, when ``actor`` manages its cooperative (else: not found)."""
    resolution = session.get(Resolution, resolution_id)
    if resolution is None:
        raise Refused("id", f"no resolution {resolution_id}")
    try:
        require_cooperative(session, actor, resolution.cooperative_id)
    except PermissionError:
        raise Refused("id", f"no resolution {resolution_id}") from None
    return resolution


def votes_cast(session: Session, resolution: Resolution) -> int:
    """How many members voted."""
    return session.scalar(select(func.count()).select_from(Vote)
                          .where(Vote.resolution_id == resolution.id)) or 0


def edit_resolution(session: Session, actor: Actor, resolution: Resolution, *,
                    titles: dict[str, str] | None = None,
                    choices: dict[str, list[str]] | None = None,
                    opens_at: datetime | None = None, closes_at: datetime | None = None,
                    voter_groups: list[str] | None = None,
                    quorum_percent: int | None = None) -> Resolution:
    """Change a resolution; once a vote is cast, only its closing time."""
    require_cooperative(session, actor, resolution.cooperative_id)
    now = utcnow()
    if resolution.closes_at <= now:
        raise Refused("id", f"resolution {resolution.id} is closed")
    others = {"question": titles, "choices": choices, "opens": opens_at,
              "voters": voter_groups, "quorum": quorum_percent}
    given = [name for name, value in others.items() if value is not None]
    if given and votes_cast(session, resolution):
        raise Refused(given[0], "votes are cast: only the closing time can change")
    changed: dict[str, Any] = {}
    if titles is not None or choices is not None:
        new_titles, new_choices = _texts({**resolution.titles, **(titles or {})},
                                         {**resolution.choices, **(choices or {})})
        resolution.titles, resolution.choices = new_titles, new_choices
        changed["texts"] = True
    new_open = opens_at or resolution.opens_at
    new_close = closes_at or resolution.closes_at
    if opens_at is not None or closes_at is not None:
        _times(new_open, new_close, now)
        resolution.opens_at, resolution.closes_at = new_open, new_close
        changed["opens_at"], changed["closes_at"] = new_open.isoformat(), new_close.isoformat()
    if voter_groups is not None:
        coop = session.get(Cooperative, resolution.cooperative_id)
        assert coop is not None
        resolution.voter_groups = _groups(session, coop, voter_groups)
        changed["voter_groups"] = resolution.voter_groups
    if quorum_percent is not None:
        if not 0 <= quorum_percent <= 100:
            raise Refused("quorum", "a percentage from 0 to 100")
        resolution.quorum_percent = changed["quorum_percent"] = quorum_percent
    if changed:
        record(session, actor, "resolution.edit", "resolution", resolution.id,
               resolution.cooperative_id, **changed)
    return resolution


def voters_query(resolution: Resolution) -> Any:
    """The members who may vote on ``resolution``: active, in its groups if it names some."""
    query = select(Member).where(Member.cooperative_id == resolution.cooperative_id,
                                 Member.active.is_(True))
    if resolution.voter_groups:
        query = query.where(Member.id.in_(
            select(member_groups.c.member_id).join(Group, Group.id == member_groups.c.group_id)
            .where(Group.cooperative_id == resolution.cooperative_id,
                   Group.name.in_(resolution.voter_groups))))
    return query


def may_vote(session: Session, resolution: Resolution, member: Member) -> bool:
    """Whether ``member`` is among those who may vote."""
    if member.cooperative_id != resolution.cooperative_id or not member.active:
        return False
    if not resolution.voter_groups:
        return True
    return any(g.name in resolution.voter_groups for g in member.groups)


@dataclass(frozen=True)
class Results:
    """What a resolution's vote came to."""

    counts: list[int]
    voted: int
    eligible: int
    quorum_percent: int

    @property
    def turnout_percent(self) -> int:
        """Share of those who may vote who did, rounded down."""
        return self.voted * 100 // self.eligible if self.eligible else 0

    @property
    def quorum_met(self) -> bool:
        """Whether enough voted for the result to count."""
        return self.voted * 100 >= self.quorum_percent * self.eligible and self.voted > 0


def results(session: Session, resolution: Resolution) -> Results:
    """The count per choice of the votes of those who may vote, with the turnout."""
    voters = voters_query(resolution).subquery()
    eligible = session.scalar(select(func.count()).select_from(voters)) or 0
    rows = session.execute(
        select(Vote.choice, func.count()).where(Vote.resolution_id == resolution.id,
                                                Vote.member_id.in_(select(voters.c.id)),
                                                Vote.cast_at < resolution.closes_at)
        .group_by(Vote.choice)).all()
    counts = [0] * len(resolution.choices.get("fr") or [])
    for choice, count in rows:
        if 0 <= choice < len(counts):
            counts[choice] = count
    return Results(counts, sum(counts), eligible, resolution.quorum_percent)


def result_line(resolution: Resolution, found: Results, lang: str) -> str:
    """"Oui 12, Non 3" in ``lang``."""
    labels = resolution.choices.get(lang) or resolution.choices["fr"]
    return ", ".join(f"{label} {count}" for label, count in zip(labels, found.counts,
                                                                 strict=False))


def close_resolution(session: Session, actor: Actor, resolution: Resolution) -> Resolution:
    """Close the vote now (it may also close by itself at its closing time)."""
    require_cooperative(session, actor, resolution.cooperative_id)
    now = utcnow()
    if resolution.closes_at <= now:
        raise Refused("id", f"resolution {resolution.id} is already closed")
    resolution.closes_at = max(now, resolution.opens_at)
    record(session, actor, "resolution.close", "resolution", resolution.id,
           resolution.cooperative_id, closes_at=resolution.closes_at.isoformat())
    return resolution


def send_results(session: Session, resolution: Resolution) -> list[OutboundMessage]:
    """Queue the results for every member who may vote, in her language, once; commit after.

    The conditional UPDATE makes it once: a second call (the CLI and the sweep) sends nothing.
    """
    now = utcnow()
    if resolution.closes_at > now:
        return []
    claimed = session.execute(
        update(Resolution).where(Resolution.id == resolution.id,
                                 Resolution.results_sent_at.is_(None))
        .values(results_sent_at=now).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        return []
    found = results(session, resolution)
    messages = []
    for member in session.scalars(voters_query(resolution).where(Member.opted_out.is_(False))):
        lang = str(member.language)
        text = render("sms_resolution_result", lang, {
            "resolution": resolution.titles.get(lang) or resolution.titles["fr"],
            "results": result_line(resolution, found, lang),
            "turnout": found.turnout_percent, "voted": found.voted,
            "eligible": found.eligible,
            "quorum": render("quorum_met" if found.quorum_met else "quorum_not_met", lang, {})})
        messages.append(outbox.add(session, to=member.phone, text=text,
                                   kind=MessageKind.BROADCAST, member_id=member.id,
                                   sender=member.cooperative.sender_name))
    record_system(session, resolution, found, len(messages))
    return messages


def record_system(session: Session, resolution: Resolution, found: Results, sent: int) -> None:
    """The audit row of results going out."""
    audit.record(session, "resolution.results_sent", "resolution", resolution.id,
                 channel="system", actor_label="results", cooperative_id=resolution.cooperative_id,
                 details={"counts": found.counts, "voted": found.voted,
                          "eligible": found.eligible, "quorum_met": found.quorum_met,
                          "messages": sent})


def due_results(session: Session) -> list[Resolution]:
    """Resolutions closed whose results have not gone out yet."""
    return list(session.scalars(select(Resolution).where(Resolution.closes_at <= utcnow(),
                                                         Resolution.results_sent_at.is_(None))))


def send_due_results(session: Session, client: Any) -> int:
    """Send the results of every resolution that closed by itself (the worker's maintenance)."""
    sent = 0
    for resolution in due_results(session):
        messages = send_results(session, resolution)
        outbox.commit_and_send(session, messages, client)
        sent += len(messages)
    return sent


def closed_for(session: Session, member: Member, limit: int = 3) -> list[Resolution]:
    """The latest closed resolutions the member could vote on, newest first."""
    found = session.scalars(select(Resolution).where(
        Resolution.cooperative_id == member.cooperative_id, Resolution.closes_at <= utcnow())
        .order_by(Resolution.closes_at.desc()).limit(limit * 3))
    return [r for r in found if may_vote(session, r, member)][:limit]
