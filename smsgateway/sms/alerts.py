"""ALERTE by SMS: a coordinator sees the audience and the cost, and confirms within 10 minutes.

The alert waits in Redis under the coordinator's member id, with a time to live: an ``OUI``
after ten minutes finds nothing, so a stale alert is never sent by surprise.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..broadcasts.schedule import in_quiet_hours
from ..models import Channel
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
#: An alert by SMS is the quick one, for what cannot wait: it passes quiet hours.
URGENT = True


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


def _notes(ctx: Context, body: str, by_language: dict[str, int]) -> list[str]:
    # What she should know before OUI: who reads another language, and quiet hours.
    notes = []
    written = written_in(body, ctx.lang)
    others = {lang: n for lang, n in by_language.items() if lang != written and n}
    if others:
        names = " / ".join(text(f"language_name_{lang}", ctx.lang) for lang in sorted(others))
        notes.append(text("alert_other_languages", ctx.lang, others=sum(others.values()),
                          languages=names))
    if URGENT and in_quiet_hours(ctx.settings, datetime.now(UTC)):
        notes.append(text("alert_quiet_hours", ctx.lang))
    return notes


def _texts(ctx: Context, body: str) -> dict[str, str]:
    # The coordinator wrote one text: every member gets it, whatever her language.
    return {language: body for language in ctx.settings.languages}


def preview(ctx: Context, body: str) -> str:
    """Price the alert, keep it pending for :data:`CONFIRM_SECONDS`, and say what it costs."""
    from .. import broadcasts

    body = body[:MAX_ALERT_CHARS]
    estimate = broadcasts.plan(ctx.session, ctx.settings,
                               cooperative_ids=[ctx.member.cooperative_id],
                               texts=_texts(ctx, body))
    if estimate.recipients == 0:
        return text("alert_empty_audience", ctx.lang)
    pending = {"text": body, "cooperative_id": ctx.member.cooperative_id}
    ctx.redis.set(PENDING_KEY.format(member_id=ctx.member.id), json.dumps(pending),
                    ex=CONFIRM_SECONDS)
    by_language = {lang: line.recipients for lang, line in estimate.by_language.items()}
    return " ".join([text("alert_preview", ctx.lang, recipients=estimate.recipients,
                          segments=estimate.segments, cost=estimate.estimated_cost,
                          currency=ctx.settings.defaults.currency),
                     *_notes(ctx, body, by_language)])


def _take(ctx: Context) -> dict[str, object] | None:
    # GETDEL: of two OUI arriving at once, exactly one finds the alert.
    raw = ctx.redis.getdel(PENDING_KEY.format(member_id=ctx.member.id))
    return json.loads(raw) if raw else None


def confirm(ctx: Context) -> str:
    """Send the coordinator's pending alert (after commit), or say there is none."""
    pending = _take(ctx)
    if pending is None or pending.get("cooperative_id") != ctx.member.cooperative_id:
        return text("nothing_pending", ctx.lang)
    outcome = start_alert(ctx.session, ctx.member, _texts(ctx, str(pending["text"])),
                          urgent=URGENT, channel=Channel.SMS, settings=ctx.settings,
                          redis=ctx.redis)
    if not outcome.ok:
        return text("nothing_pending", ctx.lang)
    ctx.after_commit.extend(outcome.after_commit)
    return text("alert_sent", ctx.lang, id=outcome.params["broadcast"],
                recipients=outcome.params["recipients"])


def cancel(ctx: Context) -> str:
    """Drop the coordinator's pending alert."""
    if _take(ctx) is None:
        return text("nothing_pending", ctx.lang)
    return text("alert_cancelled", ctx.lang)
