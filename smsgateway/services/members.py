"""Members: adding them, finding them by phone, PINs and opt-outs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, selectinload

from ..db import utcnow
from ..exceptions import InvalidPhoneNumber, Refused
from ..models import Cooperative, Group, Language, Member, PhoneCredential, Role
from ..phones import normalize_phone
from ..security import hash_pin
from . import audit, pins
from .accounts import Actor, record, require_cooperative


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


# --- Coordinators managing members (CLI and dashboard) ---------------------------------------

#: The columns of a members CSV, import and export alike (never a PIN or a code).
CSV_COLUMNS = ("phone", "name", "language", "role", "groups", "active", "has_pin")


def _language(value: str) -> Language:
    try:
        return Language(value)
    except ValueError:
        raise Refused("language", f"unknown language {value!r}") from None


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise Refused("role", f"{value!r} is not member or coordinator") from None


def register_member(session: Session, actor: Actor, coop: Cooperative, phone: str, *,
                    name: str = "", language: str | None = None, role: str = "member",
                    groups: Iterable[str] = (), region: str) -> Member:
    """Add a member to the cooperative (refused when the phone is already one of hers)."""
    require_cooperative(session, actor, coop.id)
    try:
        e164 = normalize_phone(phone, region)
    except InvalidPhoneNumber as error:
        raise Refused("phone", str(error)) from None
    if session.scalar(select(Member.id).where(Member.cooperative_id == coop.id,
                                              Member.phone == e164)) is not None:
        raise Refused("phone", f"{e164} is already a member of {coop.slug}")
    if len(name) > 200:
        raise Refused("name", "at most 200 characters")
    member = add_member(session, coop, e164, name=name.strip(),
                        language=_language(language or str(coop.default_language)),
                        role=_role(role), groups=groups, region=region)
    record(session, actor, "member.add", "member", member.id, coop.id, phone=e164,
           role=str(member.role), groups=sorted(g.name for g in member.groups))
    return member


def find_member(session: Session, actor: Actor, coop: Cooperative, phone: str,
                region: str) -> Member:
    """The cooperative's member with that phone."""
    require_cooperative(session, actor, coop.id)
    try:
        e164 = normalize_phone(phone, region)
    except InvalidPhoneNumber as error:
        raise Refused("phone", str(error)) from None
    member = session.scalar(select(Member).where(Member.cooperative_id == coop.id,
                                                 Member.phone == e164))
    if member is None:
        raise Refused("phone", f"{e164} is not a member of {coop.slug}")
    return member


def edit_member(session: Session, actor: Actor, member: Member, *, name: str | None = None,
                language: str | None = None, role: str | None = None,
                active: bool | None = None) -> Member:
    """Change a member's name, language, role, or whether she is active."""
    require_cooperative(session, actor, member.cooperative_id)
    wanted: dict[str, Any] = {}
    if name is not None:
        if len(name) > 200:
            raise Refused("name", "at most 200 characters")
        wanted["name"] = name.strip()
    if language is not None:
        wanted["language"] = _language(language)
    if role is not None:
        wanted["role"] = _role(role)
    if active is not None:
        wanted["active"] = active
    changed = {}
    for key, value in wanted.items():
        if getattr(member, key) != value:
            changed[key] = {"from": str(getattr(member, key)), "to": str(value)}
            setattr(member, key, value)
    if changed:
        record(session, actor, "member.edit", "member", member.id, member.cooperative_id,
               **changed)
    return member


def set_groups(session: Session, actor: Actor, member: Member, *, add: Iterable[str] = (),
               remove: Iterable[str] = ()) -> Member:
    """Put a member in groups (created when new) or take her out of some."""
    require_cooperative(session, actor, member.cooperative_id)
    coop = member.cooperative
    names = {g.name for g in member.groups}
    adding = {n.strip() for n in add if n.strip()}
    removing = {n.strip() for n in remove if n.strip()}
    if any(len(n) > 100 for n in adding):
        raise Refused("group", "at most 100 characters")
    unknown = removing - names
    if unknown:
        raise Refused("group", f"{member.phone} is not in {sorted(unknown)[0]!r}")
    wanted = (names | adding) - removing
    if wanted != names:
        member.groups = [ensure_group(session, coop, n) for n in sorted(wanted)]
        session.flush()
        record(session, actor, "member.groups", "member", member.id, coop.id,
               added=sorted(adding - names), removed=sorted(removing))
    return member


def export_rows(session: Session, actor: Actor, coop: Cooperative) -> Iterator[dict[str, str]]:
    """The cooperative's members as CSV rows (the import's columns; never a PIN or a code)."""
    require_cooperative(session, actor, coop.id)
    with_pin = set(session.scalars(
        select(PhoneCredential.phone).join(Member, Member.phone == PhoneCredential.phone)
        .where(Member.cooperative_id == coop.id, PhoneCredential.pin_hash.is_not(None))))
    query = (select(Member).options(selectinload(Member.groups))
             .where(Member.cooperative_id == coop.id).order_by(Member.id))
    for member in session.scalars(query):
        yield {"phone": member.phone, "name": member.name, "language": str(member.language),
               "role": str(member.role),
               "groups": ";".join(sorted(g.name for g in member.groups)),
               "active": "yes" if member.active else "no",
               "has_pin": "yes" if member.phone in with_pin else "no"}
