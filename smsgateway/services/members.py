"""Members: adding them, finding them by phone, PINs and opt-outs."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import Cooperative, Group, Language, Member, Role
from ..phones import normalize_phone
from ..security import hash_pin
from . import audit, pins


def add_member(
    session: Session,
    cooperative: Cooperative,
    phone: str,
    *,
    name: str = "",
    language: Language | str | None = None,
    role: Role | str = Role.MEMBER,
    pin: str | None = None,
    groups: Iterable[str] = (),
    region: str,
) -> Member:
    """Add a member; ``phone`` in any common form, national ones read in ``region``."""
    member = Member(
        cooperative=cooperative,
        phone=normalize_phone(phone, region),
        name=name,
        language=Language(language or cooperative.default_language),
        role=Role(role),
    )
    session.add(member)
    session.flush()
    if pin:
        # Demo data and tests: a PIN set directly (members choose theirs with a code).
        pins.change_pin(session, member.phone, hash_pin(pin))
    member.groups = [ensure_group(session, cooperative, g) for g in groups]
    session.flush()
    return member


def ensure_group(session: Session, cooperative: Cooperative, name: str) -> Group:
    """The cooperative's group of that name, created when missing."""
    name = name.strip()
    group = session.scalar(
        select(Group).where(Group.cooperative_id == cooperative.id, Group.name == name)
    )
    if group is None:
        group = Group(cooperative=cooperative, name=name)
        session.add(group)
        session.flush()
    return group


# Built once: building a select costs as much as running it, and this runs per message.
_MEMBERS_BY_PHONE = (select(Member)
                     .where(Member.phone == bindparam("phone"), Member.active.is_(True))
                     .order_by(Member.id))


def members_by_phone(session: Session, phone: str) -> list[Member]:
    """Every membership of a phone (one person may belong to several cooperatives)."""
    return list(session.scalars(_MEMBERS_BY_PHONE, {"phone": phone}))


def set_opt_out(session: Session, phone: str, opted_out: bool, channel: str) -> list[Member]:
    """Record STOP (or START) for every membership of a phone."""
    members = members_by_phone(session, phone)
    for member in members:
        if member.opted_out != opted_out:
            member.opted_out = opted_out
            member.opted_out_at = utcnow() if opted_out else None
            audit.record(session, "member.opt_out" if opted_out else "member.opt_in", "member",
                         member.id, channel=channel, actor=member)
    session.flush()
    return members


def set_language(session: Session, phone: str, language: Language | str,
                 channel: str) -> list[Member]:
    """Set the language of every membership of a phone (LANGUE by SMS, a USSD choice)."""
    language = Language(language)
    members = members_by_phone(session, phone)
    for member in members:
        if member.language != language:
            audit.record(session, "member.language", "member", member.id, channel=channel,
                         actor=member, details={"from": str(member.language),
                                                "to": str(language)})
            member.language = language
    session.flush()
    return members
