"""The Members page: search and paging, add, edit, groups, deactivate, PIN state with "issue a
code" and "unlock", CSV import with its report of rejected lines, CSV export, and the join
requests to accept or refuse. Changes go through :mod:`smsgateway.services.members`."""

from __future__ import annotations

import csv
import io

from flask import (
    Blueprint,
    Response,
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
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from menus.languages import LANGUAGES

from .. import outbox
from ..cli.members_import import csv_rows, import_members
from ..db import get_session
from ..exceptions import Refused
from ..models import Channel, JoinRequest, Member, Role
from ..redisconn import get_redis
from ..services import joins, members, pin_codes
from ..services.accounts import actor_for, record
from ..services.outcome import queue_notices
from .auth import login_required
from .i18n import t
from .scope import cooperative_ids, current_cooperative

PAGE_SIZE = 25
#: A CSV upload larger than this is refused (the CLI imports bigger files).
MAX_IMPORT_BYTES = 2_000_000


def _settings():  # noqa: ANN202 - the app's Settings
    return current_app.config["SETTINGS"]


@login_required
def member_list() -> ResponseReturnValue:
    """Her members, searched by name or phone, a page at a time; the join requests first."""
    db = get_session()
    coop = current_cooperative()
    query = request.args.get("q", "").strip()[:100]
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    where = [Member.cooperative_id == coop.id]
    if query:
        pattern = f"%{query.replace('%', '').replace('_', '')}%"
        where.append(or_(Member.name.ilike(pattern), Member.phone.like(pattern)))
    total = db.scalar(select(func.count()).select_from(Member).where(*where)) or 0
    members = list(db.scalars(
        select(Member).options(selectinload(Member.groups)).where(*where)
        .order_by(Member.name, Member.id).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
    states = pin_codes.pin_states(db, get_redis(), [m.phone for m in members],
                                  _settings().ussd.pin_attempts)
    return render_template(
        "dashboard/members.html", members=members, states=states, query=query, page=page,
        pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), total=total,
        joins=joins.pending_joins(db, coop.id), languages_all=LANGUAGES,
        default_language=str(coop.default_language))


def _member_or_404(member_id: int) -> Member:
    member = get_session().get(Member, member_id)
    if member is None or member.cooperative_id not in cooperative_ids():
        abort(404)
    return member


def _back() -> ResponseReturnValue:
    return redirect(url_for("dashboard.member_list", q=request.form.get("q") or None))


@login_required
def issue_pin_code(member_id: int) -> ResponseReturnValue:
    """Send her a one-time code by SMS to choose her PIN (forgetting the old PIN if any)."""
    member = _member_or_404(member_id)
    db = get_session()
    settings = _settings()
    try:
        message = pin_codes.issue_code(
            db, actor_for(g.account, Channel.WEB.value), member,
            hours=settings.ussd.pin_code_hours,
            service_code=member.cooperative.ussd_code or settings.ussd.service_code,
            reset=request.form.get("reset") == "1")
    except Refused:
        db.rollback()
        flash(t("member_has_pin", name=member.name or member.phone), "error")
        return _back()
    pin_codes.clear_lockout(get_redis(), member)
    outbox.commit_and_send(db, [message], get_redis())
    flash(t("member_code_sent", name=member.name or member.phone,
            hours=settings.ussd.pin_code_hours), "ok")
    return _back()


@login_required
def unlock_pin(member_id: int) -> ResponseReturnValue:
    """Let her try her PIN again now, after too many wrong ones."""
    member = _member_or_404(member_id)
    pin_codes.clear_lockout(get_redis(), member)
    record(get_session(), actor_for(g.account, Channel.WEB.value), "pin.unlock", "member",
           member.id, member.cooperative_id)
    get_session().commit()
    flash(t("member_unlocked", name=member.name or member.phone), "ok")
    return _back()


@login_required
def import_csv() -> ResponseReturnValue:
    """Add or update members from a CSV file; the rejected lines are listed with why."""
    upload = request.files.get("file")
    raw = upload.read(MAX_IMPORT_BYTES + 1) if upload else b""
    if not raw or len(raw) > MAX_IMPORT_BYTES:
        flash(t("import_no_file"), "error")
        return redirect(url_for("dashboard.member_list"))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        flash(t("import_not_utf8"), "error")
        return redirect(url_for("dashboard.member_list"))
    reader = csv_rows(io.StringIO(text, newline=""))
    if not reader.fieldnames or "phone" not in reader.fieldnames:
        flash(t("import_no_header"), "error")
        return redirect(url_for("dashboard.member_list"))
    report = import_members(get_session(), current_cooperative(), reader,
                            _settings().defaults.region)
    get_session().commit()
    return render_template("dashboard/import_report.html", report=report)


def _actor():  # noqa: ANN202 - an accounts.Actor
    return actor_for(g.account, Channel.WEB.value)


def _groups_field(raw: str) -> list[str]:
    return [name.strip()[:100] for name in raw.replace(",", ";").split(";") if name.strip()]


@login_required
def add() -> ResponseReturnValue:
    """Add one member by hand."""
    db = get_session()
    form = request.form
    try:
        member = members.register_member(
            db, _actor(), current_cooperative(), form.get("phone", "")[:40],
            name=form.get("name", "")[:300], language=form.get("language") or None,
            role=form.get("role", "member"), groups=_groups_field(form.get("groups", "")),
            region=_settings().defaults.region)
    except Refused as error:
        db.rollback()
        flash(t("member_refused", reason=error.message), "error")
        return redirect(url_for("dashboard.member_list"))
    db.commit()
    flash(t("member_added", name=member.name or member.phone), "ok")
    return redirect(url_for("dashboard.member_edit", member_id=member.id))


@login_required
def member_edit(member_id: int) -> ResponseReturnValue:
    """Her card: name, language, role, groups; deactivate or reactivate."""
    member = _member_or_404(member_id)
    if request.method == "GET":
        return render_template("dashboard/member.html", member=member,
                               languages_all=LANGUAGES, roles=[r.value for r in Role])
    db = get_session()
    form = request.form
    wanted = set(_groups_field(form.get("groups", "")))
    current = {grp.name for grp in member.groups}
    try:
        members.edit_member(db, _actor(), member, name=form.get("name", "")[:300],
                            language=form.get("language"), role=form.get("role"))
        members.set_groups(db, _actor(), member, add=sorted(wanted - current),
                           remove=sorted(current - wanted))
    except Refused as error:
        db.rollback()
        flash(t("member_refused", reason=error.message), "error")
        return redirect(url_for("dashboard.member_edit", member_id=member_id))
    db.commit()
    flash(t("member_saved", name=member.name or member.phone), "ok")
    return redirect(url_for("dashboard.member_edit", member_id=member_id))


@login_required
def set_active(member_id: int, state: str) -> ResponseReturnValue:
    """Deactivate (asked once more) or reactivate a member."""
    member = _member_or_404(member_id)
    if state == "deactivate" and request.form.get("confirmed") != "1":
        return render_template("dashboard/member_deactivate.html", member=member)
    db = get_session()
    members.edit_member(db, _actor(), member, active=state == "activate")
    db.commit()
    flash(t("member_deactivated" if state == "deactivate" else "member_activated",
            name=member.name or member.phone), "ok")
    return redirect(url_for("dashboard.member_edit", member_id=member_id))


def _cell(value: str) -> str:
    # A spreadsheet runs a cell starting with = + - @ as a formula: never from a member's name.
    phone = value[:1] == "+" and value[1:].isdigit()
    return "'" + value if value[:1] in ("=", "+", "-", "@") and not phone else value


@login_required
def export_csv() -> ResponseReturnValue:
    """Every member of the cooperative as CSV (the import's columns; never a PIN)."""
    coop = current_cooperative()
    rows = members.export_rows(get_session(), _actor(), coop)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=members.CSV_COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(value) for key, value in row.items()})
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="members-{coop.slug}.csv"'})


def _join_or_404(request_id: int) -> JoinRequest:
    found = get_session().get(JoinRequest, request_id)
    if found is None or found.cooperative_id not in cooperative_ids():
        abort(404)
    return found


@login_required
def decide_join(request_id: int, decision: str) -> ResponseReturnValue:
    """Accept (she becomes a member and is welcomed by SMS) or refuse, asked once more."""
    found = _join_or_404(request_id)
    if decision == "refuse" and request.form.get("confirmed") != "1":
        return render_template("dashboard/join_refuse.html", join=found)
    db = get_session()
    settings = _settings()
    coop = current_cooperative()
    outcome = joins.decide_join(
        db, found.id, decision == "accept", actor=actor_for(g.account, Channel.WEB.value),
        cooperative_ids=cooperative_ids(), region=settings.defaults.region,
        service_code=coop.ussd_code or settings.ussd.service_code,
        name=request.form.get("name", "")[:200], language=request.form.get("language"))
    if not outcome.ok:
        db.rollback()
        flash(t("join_already_decided", phone=found.phone), "error")
        return redirect(url_for("dashboard.member_list"))
    messages = queue_notices(db, outcome.notices, settings.defaults.currency)
    outbox.commit_and_send(db, messages, get_redis())
    flash(t("join_accepted" if decision == "accept" else "join_refused", phone=found.phone),
          "ok")
    return redirect(url_for("dashboard.member_list"))


def register(bp: Blueprint) -> None:
    """Attach the Members pages to ``bp``."""
    bp.add_url_rule("/dashboard/members", view_func=member_list, methods=["GET"])
    bp.add_url_rule("/dashboard/members/import", view_func=import_csv, methods=["POST"])
    bp.add_url_rule("/dashboard/members/export.csv", view_func=export_csv, methods=["GET"])
    bp.add_url_rule("/dashboard/members/add", view_func=add, methods=["POST"])
    bp.add_url_rule("/dashboard/members/<int:member_id>", view_func=member_edit,
                    methods=["GET", "POST"])
    bp.add_url_rule("/dashboard/members/<int:member_id>/<any(activate, deactivate):state>",
                    view_func=set_active, methods=["POST"])
    bp.add_url_rule("/dashboard/members/<int:member_id>/pin-code", view_func=issue_pin_code,
                    methods=["POST"])
    bp.add_url_rule("/dashboard/members/<int:member_id>/unlock", view_func=unlock_pin,
                    methods=["POST"])
    bp.add_url_rule("/dashboard/joins/<int:request_id>/<any(accept, refuse):decision>",
                    view_func=decide_join, methods=["POST"])
