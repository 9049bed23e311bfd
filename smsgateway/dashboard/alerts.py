"""The Alerts page: compose (per language, with a live counter), confirm, follow, cancel.

Every alert is one broadcast of the coordinator's cooperative, started and cancelled through
:mod:`smsgateway.services.alerts`; the counter's encoding rules come from
:mod:`menus.encoding`, handed to the page's script as data so both count the same way.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from menus import encoding
from menus.languages import LANGUAGES, style

from .. import broadcasts
from ..broadcasts.schedule import in_quiet_hours, quiet_hours_end, send_time
from ..db import get_session, utcnow
from ..models import Broadcast, BroadcastStatus, Channel, Group, Role
from ..redisconn import get_redis
from ..services import alerts
from .auth import login_required
from .formatting import localtime, zone
from .formatting import money as _money
from .i18n import language, t
from .scope import cooperative_ids, current_cooperative

#: Longest alert text accepted per language (ten segments of Arabic).
MAX_TEXT = 670


def encoding_tables() -> str:
    """The GSM-7 tables and limits of :mod:`menus.encoding`, as JSON for the page's counter."""
    return json.dumps({
        "basic": "".join(sorted(encoding.GSM7_BASIC)),
        "extension": "".join(sorted(encoding.GSM7_EXTENSION)),
        "folds": encoding.FOLDS,
        "single_gsm7": encoding.SINGLE_GSM7, "multi_gsm7": encoding.MULTI_GSM7,
        "single_ucs2": encoding.SINGLE_UCS2, "multi_ucs2": encoding.MULTI_UCS2,
    }, ensure_ascii=True).replace("<", "\\u003c")


@dataclass
class Draft:
    """An alert as the compose form describes it."""

    texts: dict[str, str] = field(default_factory=dict)
    fold: bool = False
    groups: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    mode: str = "now"  # now | urgent | later
    at: str = ""
    expires_hours: int = 24
    errors: list[str] = field(default_factory=list)

    @property
    def urgent(self) -> bool:
        """Whether it passes quiet hours and goes first."""
        return self.mode == "urgent"

    def audience(self) -> dict[str, list[str]]:
        """The audience filters."""
        return {"groups": self.groups, "roles": self.roles, "languages": self.languages}

    def scheduled_at(self) -> datetime | None:
        """When she asked it to go (UTC), None for now."""
        if self.mode != "later" or not self.at:
            return None
        return datetime.fromisoformat(self.at).replace(tzinfo=zone()).astimezone(UTC)

    def expires_at(self) -> datetime:
        """When an alert not sent yet becomes stale."""
        return (self.scheduled_at() or utcnow()) + timedelta(hours=self.expires_hours)


def read_draft(form: Any, group_names: set[str]) -> Draft:
    """The draft in a posted form, checked; problems are catalog keys in ``errors``."""
    draft = Draft(fold=form.get("fold") == "1", mode=form.get("mode", "now"))
    for lang in LANGUAGES:
        # A browser posts a textarea's line breaks as CRLF; a phone shows LF.
        text = form.get(f"text_{lang}", "").replace("\r\n", "\n").strip()
        if len(text) > MAX_TEXT:
            draft.errors.append("alert_too_long")
        if text:
            draft.texts[lang] = text[:MAX_TEXT]
    if not draft.texts:
        draft.errors.append("alert_no_text")
    # Only this cooperative's groups, known roles and languages: anything else is ignored.
    draft.groups = [name for name in form.getlist("group") if name in group_names]
    draft.roles = [role for role in form.getlist("role") if role in {r.value for r in Role}]
    draft.languages = [lang for lang in form.getlist("language") if lang in LANGUAGES]
    if draft.mode not in ("now", "urgent", "later"):
        draft.mode = "now"
    draft.at = form.get("at", "").strip()[:16]
    if draft.mode == "later":
        try:
            when = draft.scheduled_at()
        except ValueError:
            when = None
        if when is None or when <= utcnow():
            draft.errors.append("alert_bad_time")
    try:
        draft.expires_hours = min(max(int(form.get("expires_hours", "24")), 1), 24 * 30)
    except ValueError:
        draft.errors.append("alert_bad_expiry")
    return draft


def _groups() -> list[str]:
    coop = current_cooperative()
    return list(get_session().scalars(
        select(Group.name).where(Group.cooperative_id == coop.id).order_by(Group.name)))


def _plan(draft: Draft) -> broadcasts.Plan:
    settings = current_app.config["SETTINGS"]
    return broadcasts.plan(get_session(), settings, cooperative_ids=[current_cooperative().id],
                           groups=draft.groups, roles=draft.roles, languages=draft.languages,
                           texts=draft.texts, fold=draft.fold)


def duration_minutes(recipients: int, provider: str) -> int:
    """About how long sending takes on the provider's rate (whole minutes, at least 1)."""
    rate = float(getattr(current_app.config["SETTINGS"].rate_limits, provider, 1) or 1)
    return max(1, math.ceil(recipients / rate / 60))


def _compose(draft: Draft, status: int = 200) -> ResponseReturnValue:
    settings = current_app.config["SETTINGS"]
    provider = settings.sms_provider
    return render_template(
        "dashboard/alert_new.html", draft=draft, groups=_groups(), alert_languages=LANGUAGES,
        roles=[r.value for r in Role], tables=encoding_tables(),
        price=str(Decimal(getattr(settings.prices, provider, 0))),
        money_style={"decimal": style(language()).decimal,
                     "currency": style(language()).currencies.get(settings.defaults.currency,
                                                                  settings.defaults.currency)},
        counter_words={key: t(f"alert_count_{key}")
                       for key in ("chars", "segments", "members", "total")},
        default_language=str(current_cooperative().default_language)), status


@login_required
def alert_list() -> ResponseReturnValue:
    """Past and running alerts, newest first, with their delivery rate."""
    db = get_session()
    rows = [(b, broadcasts.progress(db, b.id))
            for b in alerts.alerts_of(db, [current_cooperative().id])]
    return render_template("dashboard/alerts.html", rows=rows)


@login_required
def alert_new() -> ResponseReturnValue:
    """The compose form."""
    return _compose(Draft(fold=current_app.config["SETTINGS"].broadcast.fold_by_default))


@login_required
def audience_count() -> ResponseReturnValue:
    """How many members the audience holds, by their language (for the live counter)."""
    draft = read_draft(request.args, set(_groups()))
    plan = broadcasts.plan(get_session(), current_app.config["SETTINGS"],
                           cooperative_ids=[current_cooperative().id], groups=draft.groups,
                           roles=draft.roles, languages=draft.languages,
                           texts={lang: "x" for lang in LANGUAGES})
    return jsonify({"recipients": plan.recipients,
                    "by_language": {k: v.recipients for k, v in plan.by_language.items()}})


@login_required
def alert_preview() -> ResponseReturnValue:
    """The confirmation step: the same alert, counted and priced by the server."""
    draft = read_draft(request.form, set(_groups()))
    if draft.errors:
        return _compose(draft, 400)
    plan = _plan(draft)
    if plan.recipients == 0:
        draft.errors.append("alert_no_recipient")
        return _compose(draft, 400)
    settings = current_app.config["SETTINGS"]
    starts = send_time(settings, draft.urgent, draft.scheduled_at() or utcnow())
    held = not draft.urgent and starts > (draft.scheduled_at() or utcnow())
    # Members whose language has no text read another one: say which.
    others = {lang: line.recipients for lang, line in plan.by_language.items()}
    return render_template(
        "dashboard/alert_confirm.html", draft=draft, plan=plan, others=others,
        starts=localtime(starts), held=held, minutes=duration_minutes(plan.recipients,
                                                                      plan.provider))


@login_required
def alert_edit() -> ResponseReturnValue:
    """Back from the confirmation to the form, with what she wrote."""
    draft = read_draft(request.form, set(_groups()))
    draft.errors = []
    return _compose(draft)


@login_required
def alert_send() -> ResponseReturnValue:
    """Send the confirmed alert; then its progress page."""
    draft = read_draft(request.form, set(_groups()))
    if draft.errors:
        return _compose(draft, 400)
    if g.coordinator is None:
        draft.errors.append("no_membership")
        return _compose(draft, 403)
    db = get_session()
    outcome = alerts.start_alert(
        db, g.coordinator, draft.texts, urgent=draft.urgent, channel=Channel.WEB,
        settings=current_app.config["SETTINGS"], redis=get_redis(), audience=draft.audience(),
        fold=draft.fold, scheduled_at=draft.scheduled_at(), expires_at=draft.expires_at(),
        cooperative_id=current_cooperative().id, refuse_empty=True)
    if not outcome.ok:
        draft.errors.append(f"alert_{outcome.error}")
        return _compose(draft, 400)
    db.commit()
    for work in outcome.after_commit:
        work()
    flash(t("alert_started", id=outcome.params["broadcast"],
            recipients=outcome.params["recipients"]), "ok")
    return redirect(url_for("dashboard.alert_show", broadcast_id=outcome.params["broadcast"]))


def _alert_or_404(broadcast_id: int) -> Broadcast:
    broadcast = alerts.find_alert(get_session(), broadcast_id, cooperative_ids())
    if broadcast is None:
        abort(404)
    return broadcast


def progress_view(broadcast: Broadcast) -> dict[str, Any]:
    """What the progress page and its live updates show."""
    settings = current_app.config["SETTINGS"]
    state = broadcasts.progress(get_session(), broadcast.id)
    counts = state.counts
    gone = sum(counts.get(s, 0) for s in ("sent", "delivered", "failed", "expired"))
    # Rows not written yet (a fan-out still running, or not started) wait too.
    waiting = max(state.recipients - gone, 0)
    now = utcnow()
    why = ""
    if broadcast.status == BroadcastStatus.SCHEDULED and broadcast.scheduled_at:
        why = t("alert_waiting_scheduled", at=localtime(broadcast.scheduled_at))
    elif waiting and not broadcast.urgent and in_quiet_hours(settings, now) and \
            broadcast.status not in (BroadcastStatus.CANCELLED, BroadcastStatus.EXPIRED):
        why = t("alert_waiting_quiet", at=localtime(quiet_hours_end(settings, now), "%H:%M"))
    failed = state.failed_by_reason
    expired = counts.get("expired", 0)
    sent = counts.get("sent", 0)
    delivered = counts.get("delivered", 0)
    return {
        "id": broadcast.id, "status": str(broadcast.status),
        "status_words": t(f"status_{broadcast.status}"), "recipients": state.recipients,
        "sent": sent, "delivered": delivered, "failed": counts.get("failed", 0),
        "expired": expired, "waiting": waiting, "why": why,
        "failures": [{"reason": reason_words(r), "count": n} for r, n in sorted(failed.items())],
        "cost": _money(state.cost),
        "finished": broadcast.status in (BroadcastStatus.DONE, BroadcastStatus.CANCELLED,
                                         BroadcastStatus.EXPIRED),
        "cancellable": broadcast.status in alerts.CANCELLABLE,
    }


def reason_words(reason: str) -> str:
    """A failure reason in her language when it is one of ours, else as the provider said."""
    known = {"opted out": "reason_opted_out", "cancelled": "reason_cancelled",
             "expired before sending": "reason_expired"}
    return t(known[reason]) if reason in known else reason


@login_required
def alert_show(broadcast_id: int) -> ResponseReturnValue:
    """One alert: its texts, audience and live progress, failures and cancel."""
    broadcast = _alert_or_404(broadcast_id)
    return render_template("dashboard/alert.html", broadcast=broadcast,
                           view=progress_view(broadcast),
                           created=localtime(broadcast.created_at))


@login_required
def alert_progress(broadcast_id: int) -> ResponseReturnValue:
    """The progress as JSON, polled by the page while the alert runs."""
    return jsonify(progress_view(_alert_or_404(broadcast_id)))


@login_required
def alert_cancel(broadcast_id: int) -> ResponseReturnValue:
    """Cancel what has not gone yet, after she confirmed it on a second page."""
    broadcast = _alert_or_404(broadcast_id)
    if request.form.get("confirmed") != "1":
        return render_template("dashboard/alert_cancel.html", broadcast=broadcast,
                               view=progress_view(broadcast))
    db = get_session()
    outcome = alerts.cancel_alert(db, broadcast.id, channel=Channel.WEB, actor=g.coordinator,
                                  actor_label=g.account.label, cooperative_ids=cooperative_ids())
    db.commit()
    if outcome.ok:
        flash(t("alert_cancelled_done", id=broadcast.id, dropped=outcome.params["dropped"]),
              "ok")
    else:
        flash(t("alert_already_finished", id=broadcast.id), "error")
    return redirect(url_for("dashboard.alert_show", broadcast_id=broadcast.id))


def register(bp: Blueprint) -> None:
    """Attach the Alerts pages to ``bp``."""
    bp.add_url_rule("/dashboard/alerts", view_func=alert_list, methods=["GET"])
    bp.add_url_rule("/dashboard/alerts/new", view_func=alert_new, methods=["GET"])
    bp.add_url_rule("/dashboard/alerts/audience", view_func=audience_count, methods=["GET"])
    bp.add_url_rule("/dashboard/alerts/preview", view_func=alert_preview, methods=["POST"])
    bp.add_url_rule("/dashboard/alerts/edit", view_func=alert_edit, methods=["POST"])
    bp.add_url_rule("/dashboard/alerts/send", view_func=alert_send, methods=["POST"])
    bp.add_url_rule("/dashboard/alerts/<int:broadcast_id>", view_func=alert_show,
                    methods=["GET"])
    bp.add_url_rule("/dashboard/alerts/<int:broadcast_id>/progress", view_func=alert_progress,
                    methods=["GET"])
    bp.add_url_rule("/dashboard/alerts/<int:broadcast_id>/cancel", view_func=alert_cancel,
                    methods=["POST"])

