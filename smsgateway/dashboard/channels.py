"""The Channels page: each channel the shown cooperative sends through (its own and the
shared ones it falls back to), its state, last contact, a phone's battery and signal, its
queue and today's volume; and, for the channels she may manage, test, disable or enable,
remove (asked once more), and a form adding an Android phone. The decisions (and who may
take them) are :mod:`smsgateway.services.channels`'; this module reads forms and says."""

from __future__ import annotations

from datetime import UTC, datetime, time

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ..db import get_session
from ..exceptions import NotPermitted, Refused
from ..models import Channel as Via
from ..models import Cooperative
from ..models.channels import Channel, ChannelState
from ..services import channel_health, routing
from ..services import channels as service
from ..services.accounts import Actor, actor_for
from ..services.outcome import Phrase
from .auth import login_required
from .formatting import zone
from .i18n import catalog, phrase, t
from .scope import current_cooperative

#: The add form's fields shown back after a refusal (never the password or signing key).
SHOWN_BACK = ("name", "address", "base_url", "mode", "username", "sim", "per_minute",
              "per_hour", "per_day", "owner", "register")
NUMBERS = ("sim", "per_minute", "per_hour", "per_day")


def _start_of_today() -> datetime:
    # "Today" is the cooperative's day, not the server's.
    local_midnight = datetime.combine(datetime.now(zone()).date(), time(), zone())
    return local_midnight.astimezone(UTC)


def _actor() -> Actor:
    return actor_for(g.account, Via.WEB.value)


def _may_add() -> bool:
    actor = _actor()
    return service.may_manage(actor, None) or service.may_manage(actor,
                                                                g.account.cooperative_id)


def _page(form: dict[str, str] | None = None, error: str | None = None,
          status: int = 200) -> ResponseReturnValue:
    db = get_session()
    coop = current_cooperative()
    everything = g.account.is_administrator
    items = routing.used_by(db, None if everything else [coop.id])
    traffic = channel_health.traffic(db, [c.id for c in items], _start_of_today())
    vitals = {c.id: channel_health.phone_vitals(c.health) for c in items if c.kind == "android"}
    owners = dict(db.execute(select(Cooperative.id, Cooperative.name).where(
        Cooperative.id.in_({c.cooperative_id for c in items if c.cooperative_id})
    )).all())
    actor = _actor()
    managed = {c.id for c in items if service.may_manage(actor, c.cooperative_id)}
    return render_template("dashboard/channels.html", channels=items, traffic=traffic,
                           vitals=vitals, owners=owners, managed=managed,
                           may_add=_may_add(), form=form or {"mode": "local"}, error=error,
                           modes=service.MODES), status


@login_required
def channel_list() -> ResponseReturnValue:
    """The channels she may see: a coordinator her cooperative's, an administrator all."""
    return _page()


def _number(form: dict[str, str], field: str) -> int | None:
    raw = form.get(field, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise Refused(field, f"{raw!r} is not a whole number", key="number") from None


def _owner(form: dict[str, str]) -> int | None:
    # An administrator picks (empty: shared); a coordinator's is her cooperative (the
    # service refuses any other id she might post).
    if "owner" not in form:
        return None if g.account.is_administrator else g.account.cooperative_id
    raw = form["owner"].strip()
    return int(raw) if raw.isdigit() else None


def _refusal(error: Refused) -> str:
    """The refusal in her language, naming the field as the form does."""
    key, field = f"chrefused_{error.key}", f"chfield_{error.field}"
    if error.key and key in catalog():
        named = t(field) if field in catalog() else error.field
        return phrase(Phrase(key, {"field": named, **error.params}))
    return t("member_refused", reason=error.message)


@login_required
def channel_add() -> ResponseReturnValue:
    """Add an Android phone (its secrets sealed), and register its webhooks if asked."""
    if not _may_add():
        abort(403)
    form = {key: request.form.get(key, "")[:300] for key in request.form}
    shown = {key: form[key] for key in SHOWN_BACK if key in form}
    db = get_session()
    settings = current_app.config["SETTINGS"]
    try:
        numbers = {field: _number(form, field) for field in NUMBERS}
        channel = service.add_channel(
            db, _actor(), settings, kind="android", name=form.get("name", ""),
            cooperative_id=_owner(form), address=form.get("address", ""),
            mode=form.get("mode", "local"), base_url=form.get("base_url"),
            username=form.get("username"), password=form.get("password"),
            signing_key=form.get("signing_key"), sim_number=numbers["sim"],
            per_minute=numbers["per_minute"], per_hour=numbers["per_hour"],
            per_day=numbers["per_day"])
        if form.get("register") == "1":
            service.register_webhooks(db, _actor(), channel, settings.public_base_url)
    except NotPermitted:
        db.rollback()
        abort(403)
    except Refused as error:
        db.rollback()
        return _page(shown, _refusal(error), 400)
    db.commit()
    flash(t("chadded", name=channel.name), "ok")
    if form.get("register") == "1":
        flash(t("chwebhooks_done"), "ok")
    return redirect(url_for("dashboard.channel_list"))


def _channel_or_404(channel_id: int) -> Channel:
    try:
        return service.find_channel(get_session(), _actor(), channel_id)
    except NotPermitted:
        abort(404)


def _said(probe: service.Probe, channel: Channel) -> str:
    def unknown(value: object) -> object:
        return "?" if value is None else value

    seen = (probe.last_seen.astimezone(zone()).strftime("%Y-%m-%d %H:%M")
            if probe.last_seen else t("never_seen"))
    return t(f"chtest_{probe.said}", name=channel.name, battery=unknown(probe.battery),
             signal=unknown(probe.signal), seen=seen, detail=probe.detail)


@login_required
def channel_test(channel_id: int) -> ResponseReturnValue:
    """Ask the phone (or its server) whether it answers; say what it said."""
    channel = _channel_or_404(channel_id)
    db = get_session()
    probe = service.check_channel(db, _actor(), channel)
    db.commit()
    flash(_said(probe, channel), "ok" if probe.ok else "error")
    return redirect(url_for("dashboard.channel_list"))


@login_required
def channel_state(channel_id: int, state: str) -> ResponseReturnValue:
    """Disable (no more work) or enable a channel."""
    channel = _channel_or_404(channel_id)
    db = get_session()
    wanted = ChannelState.ACTIVE if state == "enable" else ChannelState.DISABLED
    service.set_state(db, _actor(), channel, wanted)
    db.commit()
    flash(t("chenabled" if state == "enable" else "chdisabled", name=channel.name), "ok")
    return redirect(url_for("dashboard.channel_list"))


@login_required
def channel_remove(channel_id: int) -> ResponseReturnValue:
    """Remove a channel, asked once more; one that carried messages is disabled instead."""
    channel = _channel_or_404(channel_id)
    if request.form.get("confirmed") != "1":
        return render_template("dashboard/channel_remove.html", channel=channel)
    db = get_session()
    name = channel.name
    used = service.remove_channel(db, _actor(), channel)
    db.commit()
    flash(phrase(Phrase("chkept", {"name": name, "count": used})) if used
          else t("chremoved", name=name), "ok")
    return redirect(url_for("dashboard.channel_list"))


def register(bp: Blueprint) -> None:
    """Attach the Channels page and its actions to ``bp``."""
    bp.add_url_rule("/dashboard/channels", view_func=channel_list, methods=["GET"])
    bp.add_url_rule("/dashboard/channels/add", view_func=channel_add, methods=["POST"])
    bp.add_url_rule("/dashboard/channels/<int:channel_id>/test", view_func=channel_test,
                    methods=["POST"])
    bp.add_url_rule("/dashboard/channels/<int:channel_id>/<any(enable, disable):state>",
                    view_func=channel_state, methods=["POST"])
    bp.add_url_rule("/dashboard/channels/<int:channel_id>/remove", view_func=channel_remove,
                    methods=["POST"])
