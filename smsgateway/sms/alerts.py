"""ALERTE by SMS: a coordinator sees the audience and the cost, and confirms within 10 minutes.

``ALERTE <text>`` is urgent and passes quiet hours (a flood tonight); ``AVIS <text>`` is the
same alert, not urgent: confirmed in quiet hours, it is scheduled for their end
(:mod:`smsgateway.broadcasts.schedule`), and both the preview and the confirmation say when.

The alert waits in Redis under the coordinator's member id, with a time to live: an ``OUI``
after ten minutes finds nothing, so a stale alert is never sent by surprise.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime
from typing import TYPE_CHECKING

from ..broadcasts.schedule import in_quiet_hours, quiet_hours_end
from ..db import utcnow
from ..localtime import clock, cooperative_zone
from ..models import Broadcast, BroadcastStatus, Channel
from ..services.alerts import start_alert
from .texts import text

if TYPE_CHECKING:
    from .dispatch import Context

#: How long a coordinator has to confirm an alert.
CONFIRM_SECONDS = 600
PENDING_KEY = "smsgateway:sms:alert:{member_id}"
#: An alert longer than this would cost many segments per member: the preview shows it, but
#: a text beyond what an SMS can carry (1,600 characters) is cut there.
MAX_ALERT_CHARS = 1600


def written_in(body: str, coordinator_lang: str) -> str:
    """The language an alert is written in, from its script: Arabic letters are Arabic,
    Tifinagh Tamazight; Latin letters her own language (French for an Arabic reader)."""
    for char in body:
        name = unicodedata.name(char, "")
        if name.startswith("ARABIC"):
            return "ar"
        if name.startswith("TIFINAGH"):
            return "zgh"
    return coordinator_lang if coordinator_lang != "ar" else "fr"


def _at(ctx: Context, moment: datetime) -> str:
    # A time as the coordinator's phone shows it, in her cooperative's time zone.
    return clock(moment, cooperative_zone(ctx.member.cooperative, ctx.settings))


def _notes(ctx: Context, body: str, by_language: dict[str, int], urgent: bool) -> list[str]:
    # What she should know before OUI: who reads another language, and quiet hours.
    notes = []
    written = written_in(body, ctx.lang)
    others = {lang: n for lang, n in by_language.items() if lang != written and n}
    if others:
        names = " / ".join(text(f"language_name_{lang}", ctx.lang) for lang in sorted(others))
        notes.append(text("alert_other_languages", ctx.lang, others=sum(others.values()),
                          languages=names))
    now = utcnow()
    if in_quiet_hours(ctx.settings, now):
        notes.append(text("alert_quiet_hours", ctx.lang) if urgent else
                     text("notice_quiet_hours", ctx.lang,
                          at=_at(ctx, quiet_hours_end(ctx.settings, now))))
    return notes


def _texts(ctx: Context, body: str) -> dict[str, str]:
    # The coordinator wrote one text: every member gets it, whatever her language.
    return {language: body for language in ctx.settings.languages}


def preview(ctx: Context, body: str, *, urgent: bool = True) -> str:
    """Price the alert, keep it pending for :data:`CONFIRM_SECONDS`, and say what it costs
    (and, for one that is not ``urgent``, when quiet hours let it go)."""
    from .. import broadcasts

    body = body[:MAX_ALERT_CHARS]
    estimate = broadcasts.plan(ctx.session, ctx.settings,
                               cooperative_ids=[ctx.member.cooperative_id],
                               texts=_texts(ctx, body))
    if estimate.recipients == 0:
        return text("alert_empty_audience", ctx.lang)
    pending = {"text": body, "cooperative_id": ctx.member.cooperative_id, "urgent": urgent}
    ctx.redis.set(PENDING_KEY.format(member_id=ctx.member.id), json.dumps(pending),
                    ex=CONFIRM_SECONDS)
    by_language = {lang: line.recipients for lang, line in estimate.by_language.items()}
    return " ".join([text("alert_preview", ctx.lang, recipients=estimate.recipients,
                          segments=estimate.segments, cost=estimate.estimated_cost,
                          currency=ctx.settings.defaults.currency),
                     *_notes(ctx, body, by_language, urgent)])


def _take(ctx: Context) -> dict[str, object] | None:
    # GETDEL: of two OUI arriving at once, exactly one finds the alert.
    raw = ctx.redis.getdel(PENDING_KEY.format(member_id=ctx.member.id))
    return json.loads(raw) if raw else None


def confirm(ctx: Context) -> str:
    """Send the coordinator's pending alert (after commit), or say there is none."""
    pending = _take(ctx)
    if pending is None or pending.get("cooperative_id") != ctx.member.cooperative_id:
        return text("nothing_pending", ctx.lang)
    # An alert kept before AVIS existed has no "urgent": it was an ALERTE.
    outcome = start_alert(ctx.session, ctx.member, _texts(ctx, str(pending["text"])),
                          urgent=bool(pending.get("urgent", True)), channel=Channel.SMS,
                          settings=ctx.settings, redis=ctx.redis)
    if not outcome.ok:
        return text("nothing_pending", ctx.lang)
    ctx.after_commit.extend(outcome.after_commit)
    values = {"id": outcome.params["broadcast"], "recipients": outcome.params["recipients"]}
    broadcast: Broadcast = outcome.subject
    if broadcast.status == BroadcastStatus.SCHEDULED and broadcast.scheduled_at is not None:
        # Quiet hours hold it back (they may have begun since the preview): say until when.
        return text("notice_scheduled", ctx.lang, at=_at(ctx, broadcast.scheduled_at), **values)
    return text("alert_sent", ctx.lang, **values)


def cancel(ctx: Context) -> str:
    """Drop the coordinator's pending alert."""
    if _take(ctx) is None:
        return text("nothing_pending", ctx.lang)
    return text("alert_cancelled", ctx.lang)
