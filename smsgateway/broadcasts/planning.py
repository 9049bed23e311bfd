"""Planning a broadcast (who, how many segments, what it costs), storing it, starting it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from menus.encoding import GSM7, GSM7_BASIC, GSM7_EXTENSION, UCS2, fold_to_gsm7, measure

from ..config import Settings
from ..db import Database, utcnow
from ..jobs import enqueue_fan_out
from ..models import Broadcast, BroadcastStatus, Member
from ..services import audit
from .audience import Audience, Renderer, audience_query, clean_texts, has_placeholders
from .schedule import default_expiry, send_time

#: The fan-out job of broadcast N has this id, so enqueueing it twice cannot run it twice.
FANOUT_JOB_ID = "broadcast-{id}-fanout"
STARTED_KEY = "smsgateway:broadcast:{id}:started"


@dataclass
class LanguagePlan:
    """One language of a broadcast: how many get it, in what encoding, at what cost."""

    language: str
    recipients: int = 0
    encoding: str = GSM7
    segments: int = 0
    cost: Decimal = Decimal("0")
    encoding_unfolded: str = GSM7
    segments_unfolded: int = 0
    cost_unfolded: Decimal = Decimal("0")
    encoding_folded: str = GSM7
    segments_folded: int = 0
    cost_folded: Decimal = Decimal("0")


@dataclass
class Plan:
    """What a broadcast would do: recipients, encoding, segments and cost (with/without fold)."""

    provider: str
    fold: bool
    price_per_segment: Decimal
    recipients: int = 0
    encoding: str = GSM7
    segments: int = 0
    estimated_cost: Decimal = Decimal("0")
    cost_without_fold: Decimal = Decimal("0")
    cost_with_fold: Decimal = Decimal("0")
    by_language: dict[str, LanguagePlan] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "provider": self.provider, "recipients": self.recipients,
            "encoding": self.encoding, "segments": self.segments, "fold": self.fold,
            "estimated_cost": str(self.estimated_cost),
            "cost_without_fold": str(self.cost_without_fold),
            "cost_with_fold": str(self.cost_with_fold),
            "by_language": {k: {"recipients": v.recipients, "encoding": v.encoding,
                                "segments": v.segments, "cost": str(v.cost)}
                            for k, v in self.by_language.items()},
        }


def plan(session: Session, settings: Settings, *, cooperative_ids: Iterable[int],
         groups: Iterable[str] = (), roles: Iterable[str] = (),
         languages: Iterable[str] = (), texts: Mapping[str, str], fold: bool = False,
         provider: str | None = None) -> Plan:
    """Count the audience and price the broadcast; sends nothing."""
    audience = Audience(tuple(cooperative_ids), tuple(groups), tuple(roles), tuple(languages))
    return plan_audience(session, settings, audience, clean_texts(texts), fold=fold,
                         provider=provider)


def plan_audience(session: Session, settings: Settings, audience: Audience,
                  texts: Mapping[str, str], *, fold: bool, provider: str | None) -> Plan:
    """:func:`plan` on an :class:`Audience`."""
    provider = provider or settings.sms_provider
    price = Decimal(getattr(settings.prices, provider, 0))
    result = Plan(provider=provider, fold=fold, price_per_segment=price)
    plain = Renderer(session, texts, audience.cooperatives, fold=False)
    for language, coop_id, name, count in _counts(session, audience, texts):
        used = plain.language_for(language, coop_id)
        line = result.by_language.setdefault(used, LanguagePlan(used))
        line.recipients += count
        raw = plain.fill(texts[used], name, coop_id)
        for suffix, text in (("unfolded", raw), ("folded", fold_to_gsm7(raw))):
            size = measure(text)
            if size.encoding == UCS2:
                setattr(line, f"encoding_{suffix}", UCS2)
            setattr(line, f"segments_{suffix}", max(getattr(line, f"segments_{suffix}"),
                                                    size.segments))
            setattr(line, f"cost_{suffix}",
                    getattr(line, f"cost_{suffix}") + price * size.segments * count)
    for line in result.by_language.values():
        suffix = "folded" if fold else "unfolded"
        line.encoding = getattr(line, f"encoding_{suffix}")
        line.segments = getattr(line, f"segments_{suffix}")
        line.cost = getattr(line, f"cost_{suffix}")
        result.recipients += line.recipients
        result.segments = max(result.segments, line.segments)
        if line.encoding == UCS2:
            result.encoding = UCS2
        result.cost_without_fold += line.cost_unfolded
        result.cost_with_fold += line.cost_folded
    result.estimated_cost = result.cost_with_fold if fold else result.cost_without_fold
    return result


def _counts(session: Session, audience: Audience, texts: Mapping[str, str]
            ) -> Iterable[tuple[str, int, str, int]]:
    """(language, cooperative, name, how many) over the audience, one phone counted once."""
    base = audience_query(audience).order_by(None).subquery()
    # One phone in two cooperatives counts once: take its first membership.
    first = (select(func.min(base.c.id).label("id")).group_by(base.c.phone)).subquery()
    if not has_placeholders(list(texts.values())):
        rows = session.execute(
            select(Member.language, Member.cooperative_id, func.count())
            .join(first, first.c.id == Member.id)
            .group_by(Member.language, Member.cooperative_id)
        ).all()
        return [(str(lang), coop, "", count) for lang, coop, count in rows]
    # Texts with {name} differ per member, but only by the shape of the name: count shapes,
    # streaming, so 100,000 members cost a few hundred groups, not a list of names.
    counts: dict[tuple[str, int, str], int] = defaultdict(int)
    query = (select(Member.language, Member.cooperative_id, Member.name)
             .join(first, first.c.id == Member.id))
    for language, coop_id, name in session.execute(query.execution_options(yield_per=5000)):
        counts[(str(language), coop_id, name_shape(name or ""))] += 1
    return [(lang, coop, shape, count) for (lang, coop, shape), count in counts.items()]


def name_shape(name: str) -> str:
    """A stand-in for ``name`` with the same length, encoding and folding in an SMS."""
    out = []
    for ch in name.strip():
        if ch == " ":
            out.append(" ")
        elif ch in GSM7_BASIC:
            out.append("a")
        elif ch in GSM7_EXTENSION:
            out.append("€")
        elif (folded := fold_to_gsm7(ch)) != ch:
            out.append("ê" if len(folded) == 1 else ch)
        else:
            out.append("\U0001f30a" if ord(ch) > 0xFFFF else "ب")
    return "".join(out)


def create(session: Session, settings: Settings, *, cooperative_id: int,
           audience: Mapping[str, Any], texts: Mapping[str, str], urgent: bool, fold: bool = False,
           scheduled_at: datetime | None = None, expires_at: datetime | None = None,
           created_by: Member | int | None = None, created_by_label: str = "",
           channel: str = "cli", provider: str | None = None) -> Broadcast:
    """Add a broadcast (adds and flushes; the caller commits, then calls :func:`start`)."""
    cleaned = clean_texts(texts)
    filters = dict(audience)
    filters.setdefault("cooperatives", [cooperative_id])
    aud = Audience.from_dict(filters)
    if not aud.cooperatives:
        raise ValueError("a broadcast needs at least one cooperative")
    estimate = plan_audience(session, settings, aud, cleaned, fold=fold, provider=provider)
    now = utcnow()
    starts = send_time(settings, urgent, scheduled_at or now)
    creator_id = created_by.id if isinstance(created_by, Member) else created_by
    broadcast = Broadcast(
        cooperative_id=cooperative_id, audience=aud.as_dict(), texts=cleaned, urgent=urgent,
        fold=fold, provider=estimate.provider,
        status=BroadcastStatus.SCHEDULED if starts > now else BroadcastStatus.QUEUED,
        scheduled_at=starts if starts > now else None,
        expires_at=expires_at or default_expiry(settings, starts),
        recipients=estimate.recipients, estimated_cost=estimate.estimated_cost,
        created_by_id=creator_id, created_by_label=created_by_label, channel=channel,
    )
    session.add(broadcast)
    session.flush()
    audit.record(session, "broadcast.create", "broadcast", broadcast.id, channel=channel,
                 actor=created_by if isinstance(created_by, Member) else None,
                 actor_label=created_by_label, cooperative_id=cooperative_id,
                 details={"recipients": estimate.recipients, "urgent": urgent,
                          "cost": str(estimate.estimated_cost)})
    return broadcast


def start(db: Database, redis: Redis, broadcast_id: int) -> None:
    """Enqueue the broadcast's fan-out job once (call after commit); honours ``scheduled_at``."""
    with db.session() as session:
        broadcast = session.get(Broadcast, broadcast_id)
        if broadcast is None:
            raise LookupError(f"no broadcast {broadcast_id}")
        when, urgent = broadcast.scheduled_at, broadcast.urgent
    start_fan_out(redis, broadcast_id, when, urgent)


def start_fan_out(redis: Redis, broadcast_id: int, when: datetime | None, urgent: bool) -> None:
    """:func:`start` for a caller that knows the broadcast's ``scheduled_at`` and ``urgent``."""
    if not redis.set(STARTED_KEY.format(id=broadcast_id), utcnow().isoformat(), nx=True):
        return
    enqueue_fan_out(redis, urgent, broadcast_id, FANOUT_JOB_ID.format(id=broadcast_id),
                    at=when if when is not None and when > utcnow() else None)
