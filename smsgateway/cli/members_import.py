"""Importing members from CSV rows: bad rows reported by line, the rest added or updated.

Importing the same file twice changes nothing: a member is found by (cooperative, phone) and
only fields that differ are written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..exceptions import InvalidPhoneNumber
from ..models import Cooperative, Group, Language, Member, Role
from ..phones import normalize_phone
from ..services.members import ensure_group
from ..sms import parse

#: Rows written per transaction: a large file never sits whole in one session.
CHUNK = 500
ROLES = {r.value for r in Role}
GROUP_SEPARATORS = (";", "|")


@dataclass
class ImportReport:
    """What an import did, and the rows it could not take (line number, reason)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    #: Rows taken with something to check (line number, what).
    warnings: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    line: int
    phone: str
    name: str
    language: str
    role: str
    groups: tuple[str, ...] | None
    warnings: tuple[str, ...] = ()


def _has_controls(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def parse_row(line: int, raw: Mapping[str, str | None], default_language: str,
              region: str) -> Row:
    """Check one CSV row (national numbers read in ``region``); raises ValueError if bad."""
    def get(key: str) -> str:
        return (raw.get(key) or "").strip()

    try:
        phone = normalize_phone(get("phone"), region)
    except InvalidPhoneNumber as error:
        raise ValueError(str(error)) from None
    warnings: list[str] = []
    written = get("language")
    # The words the SMS LANGUE command reads (arabe, darija, tamazight, français...): one
    # table for both. A word it cannot read keeps the member, in the cooperative's language.
    language = parse.language(parse.normalize(written)) if written else default_language
    if language is None:
        language = default_language
        warnings.append(f"language {written!r} not understood: {default_language}, the "
                        "cooperative's default")
    country = phonenumbers.region_code_for_number(phonenumbers.parse(phone))
    if region and country != region:
        warnings.append(f"{phone} is a number of {country or 'another country'}, not {region}: "
                        "each SMS to it is billed at the international rate")
    role = get("role").lower() or Role.MEMBER.value
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (use member or coordinator)")
    name = get("name")
    if len(name) > 200:
        raise ValueError("name longer than 200 characters")
    if _has_controls(name) or _has_controls(get("groups")):
        # PostgreSQL refuses NUL, and no name holds a control character: a corrupt file.
        raise ValueError("control characters in name or groups")
    groups: tuple[str, ...] | None = None
    if "groups" in raw and raw.get("groups") is not None:
        text = get("groups")
        for sep in GROUP_SEPARATORS[1:]:
            text = text.replace(sep, GROUP_SEPARATORS[0])
        groups = tuple(sorted({g.strip() for g in text.split(";") if g.strip()}))
        if any(len(g) > 100 for g in groups):
            raise ValueError("group name longer than 100 characters")
    return Row(line, phone, name, language, role, groups, tuple(warnings))


def import_members(session: Session, coop: Cooperative, rows: Iterable[Mapping[str, str | None]],
                   region: str, progress: Callable[[int], None] | None = None) -> ImportReport:
    """Add or update the cooperative's members from CSV rows (commits every chunk)."""
    report = ImportReport()
    seen: dict[str, int] = {}
    groups: dict[str, Group] = {}
    pending: list[Row] = []
    for index, raw in enumerate(rows):
        line = index + 2  # line 1 is the header
        if None in raw:
            report.errors.append((line, "more columns than the header"))
            continue
        try:
            row = parse_row(line, raw, str(coop.default_language), region)
        except ValueError as error:
            report.errors.append((line, str(error)))
            continue
        if row.phone in seen:
            report.errors.append((line, f"{row.phone} already on line {seen[row.phone]}"))
            continue
        seen[row.phone] = line
        report.warnings.extend((line, warning) for warning in row.warnings)
        pending.append(row)
        if len(pending) >= CHUNK:
            _write(session, coop, pending, groups, report)
            if progress:
                progress(len(pending))
            pending = []
    _write(session, coop, pending, groups, report)
    if progress:
        progress(len(pending))
    return report


def _write(session: Session, coop: Cooperative, rows: list[Row], groups: dict[str, Group],
           report: ImportReport) -> None:
    if not rows:
        return
    existing = {m.phone: m for m in session.scalars(
        select(Member).options(selectinload(Member.groups))
        .where(Member.cooperative_id == coop.id, Member.phone.in_([r.phone for r in rows])))}
    for row in rows:
        wanted = None
        if row.groups is not None:
            wanted = [groups.get(g) or groups.setdefault(g, ensure_group(session, coop, g))
                      for g in row.groups]
        member = existing.get(row.phone)
        if member is None:
            member = Member(cooperative=coop, phone=row.phone, name=row.name,
                            language=Language(row.language), role=Role(row.role))
            session.add(member)
            member.groups = wanted or []
            report.added += 1
            continue
        changed = False
        for attr, value in (("name", row.name), ("language", Language(row.language)),
                            ("role", Role(row.role))):
            if getattr(member, attr) != value:
                setattr(member, attr, value)
                changed = True
        if wanted is not None and {g.id for g in member.groups} != {g.id for g in wanted}:
            member.groups = wanted
            changed = True
        report.updated += changed
        report.unchanged += not changed
    session.commit()
