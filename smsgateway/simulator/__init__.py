"""``/simulator``: a feature phone in the browser that plays the provider against the webhooks.

Enabled by ``simulator.enabled``; when disabled every route is 404. When ``SIMULATOR_PASSWORD``
is set, every route asks for it (HTTP basic auth, any user name).
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from menus.encoding import GSM7, GSM7_LIMIT, UCS2, UCS2_LIMIT

from ..db import get_session
from ..localtime import cooperative_zone, in_zone
from ..models import Member, OutboundMessage, OutboundStatus
from ..phones import try_normalize
from . import android, relay

bp = Blueprint("simulator", __name__, url_prefix="/simulator")

#: Messages a phone has "received": the worker handed them to a provider.
RECEIVED = (OutboundStatus.SENT, OutboundStatus.DELIVERED)
INBOX_PAGE = 50
MEMBERS_LISTED = 20
MAX_TEXT = 1600  # the longest SMS body providers accept; a USSD history is far shorter
END_STATUSES = ("Success", "Incomplete", "Failed")


@bp.before_request
def _guard() -> ResponseReturnValue | None:
    settings = current_app.config["SETTINGS"].simulator
    if not settings.enabled:
        abort(404)
    if settings.password:
        auth = request.authorization
        given = (auth.password or "") if auth else ""
        if not hmac.compare_digest(given.encode(), settings.password.encode()):
            return ("Mot de passe du simulateur requis\n", 401,
                    {"WWW-Authenticate": 'Basic realm="simulator", charset="UTF-8"',
                     "Content-Type": "text/plain; charset=utf-8"})
    # JSON only on POST: a cross-site form cannot send it, so no page elsewhere can drive this.
    if request.method == "POST" and not request.is_json:
        return jsonify(error="JSON attendu"), 415
    return None


def _phone(value: Any) -> str:
    region = current_app.config["SETTINGS"].defaults.region
    phone = try_normalize(value, region) if isinstance(value, str) else None
    if phone is None:
        abort(_bad_request("numéro invalide"))
    return phone


def _bad_request(message: str) -> Any:
    response = jsonify(error=message)
    response.status_code = 400
    return response


def _payload() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(_bad_request("objet JSON attendu"))
    return data


def _members() -> list[dict[str, str]]:
    rows = get_session().scalars(
        select(Member).where(Member.active.is_(True)).order_by(Member.id).limit(MEMBERS_LISTED)
    )
    return [{"phone": m.phone, "name": m.name, "language": str(m.language),
             "role": str(m.role)} for m in rows]


@bp.get("")
def phone_page() -> ResponseReturnValue:
    """The phone."""
    settings = current_app.config["SETTINGS"]
    return render_template("simulator/phone.html", service_code=settings.ussd.service_code,
                           members=_members(),
                           android_channels=android.phone_channels(
                               current_app._get_current_object()))


@bp.get("/api/config")
def config() -> ResponseReturnValue:
    """What a client needs: the service code and the numbers worth trying."""
    settings = current_app.config["SETTINGS"]
    return jsonify(service_code=settings.ussd.service_code, members=_members(),
                   limits={GSM7: GSM7_LIMIT, UCS2: UCS2_LIMIT},
                   android_channels=android.phone_channels(current_app._get_current_object()))


@bp.post("/api/ussd")
def ussd() -> ResponseReturnValue:
    """One hop: relay ``text`` (the history joined with ``*``) to the USSD webhook."""
    data = _payload()
    phone = _phone(data.get("phone"))
    session_id = data.get("session_id") or relay.new_session_id()
    text = data.get("text", "")
    if not isinstance(session_id, str) or not relay.SESSION_ID_RE.match(session_id):
        return _bad_request("identifiant de session invalide")
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        return _bad_request("saisie invalide")
    screen = relay.ussd_hop(current_app._get_current_object(), phone=phone,
                            session_id=session_id, text=text)
    return jsonify(session_id=session_id, phone=phone, **screen.as_dict())


@bp.post("/api/ussd/end")
def ussd_end() -> ResponseReturnValue:
    """Tell the gateway the session is over, as the provider's end-of-session callback does."""
    data = _payload()
    phone = _phone(data.get("phone"))
    session_id = data.get("session_id")
    status = data.get("status", "Success")
    if not isinstance(session_id, str) or not relay.SESSION_ID_RE.match(session_id):
        return _bad_request("identifiant de session invalide")
    if status not in END_STATUSES:
        return _bad_request("statut invalide")
    http_status = relay.ussd_ended(
        current_app._get_current_object(), phone=phone, session_id=session_id, status=status,
        hops=_int(data.get("hops")), last_input=str(data.get("input", ""))[:MAX_TEXT],
        last_response=str(data.get("last_response", ""))[:MAX_TEXT],
        duration_ms=_int(data.get("duration_ms")),
    )
    return jsonify(status=http_status)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


@bp.post("/api/sms")
def sms() -> ResponseReturnValue:
    """Send an SMS from the phone to the gateway's inbound SMS webhook."""
    data = _payload()
    phone = _phone(data.get("phone"))
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        return _bad_request("message vide")
    if len(text) > MAX_TEXT:
        return _bad_request(f"message trop long (plus de {MAX_TEXT} caractères)")
    app = current_app._get_current_object()
    channel = data.get("channel")
    if channel is not None:
        # Played as that Android channel's phone: a signed sms:received webhook.
        if not isinstance(channel, int) or isinstance(channel, bool):
            return _bad_request("canal invalide")
        posted = android.inbound_sms(app, channel, phone=phone, text=text)
        if posted is None:
            return _bad_request("aucun canal Android de ce numéro")
        status, body, message_id = posted
    else:
        status, body, message_id = relay.inbound_sms(app, phone=phone, text=text)
    return jsonify(status=status, id=message_id, body=body[:500])


@bp.get("/api/inbox")
def inbox() -> ResponseReturnValue:
    """The messages the gateway sent to ``phone`` with an id above ``after``, oldest first."""
    phone = _phone(request.args.get("phone"))
    after = request.args.get("after", type=int)
    query = select(OutboundMessage).where(
        OutboundMessage.to_phone == phone, OutboundMessage.status.in_(RECEIVED)
    )
    if after is None:
        # First load: the latest page.
        rows = list(get_session().scalars(
            query.order_by(OutboundMessage.id.desc()).limit(INBOX_PAGE)))[::-1]
    else:
        rows = list(get_session().scalars(
            query.where(OutboundMessage.id > after).order_by(OutboundMessage.id)
            .limit(INBOX_PAGE)))
    # Times as the member's cooperative reads them, not the browser's or the server's clock.
    member = get_session().scalar(select(Member).where(Member.phone == phone).limit(1))
    zone = cooperative_zone(member.cooperative if member else None,
                            current_app.config["SETTINGS"])
    messages = []
    for m in rows:
        at = in_zone(m.sent_at or m.created_at, zone)
        messages.append({"id": m.id, "text": m.text, "kind": str(m.kind),
                         "provider": m.provider, "status": str(m.status),
                         "encoding": m.encoding, "segments": m.segments,
                         "at": at.isoformat(), "local": f"{at:%H:%M:%S}", "zone": zone.key})
    last = messages[-1]["id"] if messages else (after or 0)
    return jsonify(phone=phone, messages=messages, last_id=last)
