"""Importing members from CSV rows: bad rows reported by line, the rest added or updated.

Importing the same file twice changes nothing: a member is found by (cooperative, phone) and
only fields that differ are written. Why a line is rejected (or wants checking) is a
:class:`~smsgateway.services.outcome.Phrase` of the dashboard's catalog (``import_why_*``,
``import_warn_*``): the dashboard shows it in the coordinator's language, the CLI in English.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..exceptions import InvalidPhoneNumber
from ..models import Cooperative, Group, Language, Member, Role
from ..phones import normalize_phone
from ..services.members import ensure_group
from ..services.outcome import Phrase
from ..sms import parse

#: Rows written per transaction: a large file never sits whole in one session.
CHUNK = 500
ROLES = {r.value for r in Role}
GROUP_SEPARATORS = (";", "|")
MAX_NAME = 200
MAX_GROUP = 100
#: A rejected value is quoted back this long at most (a whole corrupt line is no help).
SHOWN = 40


class Rejected(ValueError):
    """A row that cannot be imported, and why (a catalog phrase)."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.reason = Phrase(f"import_why_{key}", params)


@dataclass
class ImportReport:
    """What an import did, and the rows it could not take (line number, reason)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, Phrase]] = field(default_factory=list)
    #: Rows taken with something to check (line number, what).
    warnings: list[tuple[int, Phrase]] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    line: int
    phone: str
    name: str
    language: str
    role: str
    groups: tuple[str, ...] | None
    warnings: tuple[Phrase, ...] = ()


def csv_rows(handle: TextIO) -> csv.DictReader[str]:
    """The rows of a members CSV, separated by commas or, as a French spreadsheet saves
    them, semicolons; column names trimmed and lower-cased (a byte order mark dropped)."""
    first = handle.readline()
    handle.seek(0)
    reader = csv.DictReader(handle, delimiter=";" if first.count(";") > first.count(",")
                            else ",")
    if reader.fieldnames:
        reader.fieldnames = [f.replace("\ufeff", "").strip().lower() for f in reader.fieldnames]
    return reader


def _has_controls(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def _shown(text: str) -> str:
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"


def _warning(key: str, **params: object) -> Phrase:
    return Phrase(f"import_warn_{key}", params)


def parse_row(line: int, raw: Mapping[str, str | None], default_language: str,
              region: str) -> Row:
    """Check one CSV row (national numbers read in ``region``); raises :class:`Rejected`."""
    def get(key: str) -> str:
        return (raw.get(key) or "").strip()

    if not get("phone"):
        raise Rejected("phone_missing")
    try:
        phone = normalize_phone(get("phone"), region)
    except InvalidPhoneNumber:
        raise Rejected("phone_bad", phone=_shown(get("phone"))) from None
    warnings: list[Phrase] = []
    written = get("language")
    # The words the SMS LANGUE command reads (arabe, darija, tamazight, français...): one
    # table for both. A word it cannot read keeps the member, in the cooperative's language.
    language = parse.language(parse.normalize(written)) if written else default_language
    if language is None:
        language = default_language
        warnings.append(_warning("language", written=_shown(written),
                                 language=Phrase(f"lang_{default_language}")))
    country = phonenumbers.region_code_for_number(phonenumbers.parse(phone))
    if region and country != region:
        warnings.append(_warning("abroad", phone=phone, country=country or "?", region=region))
    role = get("role").lower() or Role.MEMBER.value
    if role not in ROLES:
        raise Rejected("role", role=_shown(get("role")))
    name = get("name")
    if len(name) > MAX_NAME:
        raise Rejected("name_long", max=MAX_NAME)
    if _has_controls(name) or _has_controls(get("groups")):
        # PostgreSQL refuses NUL, and no name holds a control character: a corrupt file.
        raise Rejected("controls")
    if not name:
        warnings.append(_warning("no_name"))
    groups: tuple[str, ...] | None = None
    if "groups" in raw and raw.get("groups") is not None:
        text = get("groups")
        for sep in GROUP_SEPARATORS[1:]:
            text = text.replace(sep, GROUP_SEPARATORS[0])
        groups = tuple(sorted({g.strip() for g in text.split(";") if g.strip()}))
        if any(len(g) > MAX_GROUP for g in groups):
            raise Rejected("group_long", max=MAX_GROUP)
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
            report.errors.append((line, Rejected("extra_columns").reason))
            continue
        try:
            row = parse_row(line, raw, str(coop.default_language), region)
        except Rejected as rejected:
            report.errors.append((line, rejected.reason))
            continue
        if row.phone in seen:
            report.errors.append((line, Rejected("duplicate", phone=row.phone,
                                                 line=seen[row.phone]).reason))
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
