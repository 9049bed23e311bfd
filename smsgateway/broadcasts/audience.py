"""Who a broadcast reaches, and what each of them reads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from menus.encoding import fold_to_gsm7

from ..config import LANGUAGES
from ..models import Cooperative, Group, Member, member_groups


@dataclass(frozen=True)
class Audience:
    """The filters of a broadcast, as stored in ``Broadcast.audience``."""

    cooperatives: tuple[int, ...]
    groups: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Audience:
        """Read the stored form."""
        return cls(
            cooperatives=tuple(int(c) for c in data.get("cooperatives", ())),
            groups=tuple(data.get("groups", ())),
            roles=tuple(data.get("roles", ())),
            languages=tuple(data.get("languages", ())),
        )

    def as_dict(self) -> dict[str, list[Any]]:
        """The stored form."""
        return {"cooperatives": list(self.cooperatives), "groups": list(self.groups),
                "roles": list(self.roles), "languages": list(self.languages)}


@dataclass(frozen=True)
class Recipient:
    """One member of an audience, as much as the fan-out needs."""

    member_id: int
    phone: str
    name: str
    language: str
    cooperative_id: int


def audience_query(audience: Audience) -> Select[Any]:
    """Members that match the audience: active, not opted out, filtered; ordered by id."""
    query = (
        select(Member.id, Member.phone, Member.name, Member.language, Member.cooperative_id)
        .where(Member.cooperative_id.in_(audience.cooperatives),
               Member.active.is_(True), Member.opted_out.is_(False))
        .order_by(Member.id)
    )
    if audience.roles:
        query = query.where(Member.role.in_(audience.roles))
    if audience.languages:
        query = query.where(Member.language.in_(audience.languages))
    if audience.groups:
        in_group = (
            select(member_groups.c.member_id)
            .join(Group, Group.id == member_groups.c.group_id)
            .where(Group.name.in_(audience.groups),
                   Group.cooperative_id.in_(audience.cooperatives))
        )
        query = query.where(Member.id.in_(in_group))
    return query


def stream(session: Session, audience: Audience, chunk_size: int,
           after_id: int = 0) -> Iterator[list[Recipient]]:
    """The audience in chunks, by member id after ``after_id``: never the whole list at once."""
    query = audience_query(audience)
    last = after_id
    while True:
        rows = session.execute(query.where(Member.id > last).limit(chunk_size)).all()
        if not rows:
            return
        yield [Recipient(r.id, r.phone, r.name or "", str(r.language), r.cooperative_id)
               for r in rows]
        last = rows[-1].id


def clean_texts(texts: Mapping[str, str]) -> dict[str, str]:
    """Texts per known language, blank ones dropped; raises ValueError when none is left."""
    unknown = sorted(set(texts) - set(LANGUAGES))
    if unknown:
        raise ValueError(f"unknown language {unknown[0]!r} (use {', '.join(LANGUAGES)})")
    cleaned = {lang: text.strip() for lang, text in texts.items() if text and text.strip()}
    if not cleaned:
        raise ValueError("a broadcast needs a message")
    return cleaned


class Renderer:
    """Picks each member's text (their language, else the cooperative's) and fills it in."""

    def __init__(self, session: Session, texts: Mapping[str, str], cooperative_ids: Iterable[int],
                 fold: bool) -> None:
        self.texts = dict(texts)
        self.fold = fold
        coops = session.execute(
            select(Cooperative.id, Cooperative.name, Cooperative.default_language)
            .where(Cooperative.id.in_(list(cooperative_ids)))
        ).all()
        self.coop_names = {c.id: c.name for c in coops}
        self.coop_languages = {c.id: str(c.default_language) for c in coops}
        self.first = next(iter(self.texts))

    def language_for(self, language: str, cooperative_id: int) -> str:
        """The language of the text a member gets."""
        if language in self.texts:
            return language
        default = self.coop_languages.get(cooperative_id, "")
        return default if default in self.texts else self.first

    def render(self, recipient: Recipient) -> tuple[str, str]:
        """(language used, final text) for one member."""
        language = self.language_for(recipient.language, recipient.cooperative_id)
        return language, self.fill(self.texts[language], recipient.name,
                                   recipient.cooperative_id)

    def fill(self, template: str, name: str, cooperative_id: int) -> str:
        """Replace ``{name}`` and ``{coop}``; other braces are left as written."""
        text = template.replace("{name}", name.strip()).replace(
            "{coop}", self.coop_names.get(cooperative_id, ""))
        text = " ".join(part for part in text.split(" ") if part) if "{name}" in template else text
        return fold_to_gsm7(text) if self.fold else text


def has_placeholders(texts: Sequence[str]) -> bool:
    """Whether any text varies per member (then costs are counted member by member)."""
    return any("{name}" in t or "{coop}" in t for t in texts)
