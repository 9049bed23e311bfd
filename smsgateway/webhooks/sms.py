"""Inbound SMS and delivery reports from Africa's Talking and Twilio.

Every answer is 200 once a message is stored (a duplicate too: the provider must stop
resending), 400 for a form missing its fields, 403 for a forged caller, 413 for a body no
provider would send; never a trace.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import wraps
from typing import Any

from flask import Response, abort, current_app, jsonify, request

from handlers import africastalking, twilio
from handlers.base import ParseError, SmsIn, StatusUpdate

from ..db import get_db, get_session
from ..redisconn import get_redis
from ..reports import apply_status
from ..services.routing import environment_channel_id
from ..sms.inbound import Outcome, receive
from .guards import require_africastalking_secret, webhook_blueprint

log = logging.getLogger(__name__)
bp = webhook_blueprint("webhooks_sms", __name__)

#: The simulator's messages (``sim-...``) are answered through the console provider.
SIMULATOR_ID_PREFIX = "sim-"


def _bad_request(error: ParseError | ValueError) -> tuple[Response, int]:
    return jsonify({"error": "Bad Request", "status": 400, "detail": str(error)}), 400


def _twilio_url() -> str:
    # Behind a proxy the request URL is not the one Twilio signed: PUBLIC_BASE_URL is.
    base = current_app.config["SETTINGS"].public_base_url
    if not base:
        return request.url
    query = request.query_string.decode("latin-1")
    return base.rstrip("/") + request.path + (f"?{query}" if query else "")


def require_twilio_signature(view: Callable[..., Any]) -> Callable[..., Any]:
    """403, before anything is read or stored, unless X-Twilio-Signature is right.

    Checked whenever TWILIO_AUTH_TOKEN is set; without it (development) nothing can be checked.
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = current_app.config["SETTINGS"].twilio.auth_token
        if token:
            signature = request.headers.get("X-Twilio-Signature")
            params = request.form.to_dict(flat=True)
            if not twilio.validate_signature(token, _twilio_url(), params, signature):
                log.warning("twilio webhook %s refused: bad or missing signature",
                            request.path)
                abort(403)
        return view(*args, **kwargs)

    return wrapper


#: SQLite lets one connection write at a time, and a thread that finds the file locked sleeps
#: in SQLite's busy handler (1, 2, 5, ... up to 100 ms) however soon the lock is freed: the
#: threads of one web process take turns here instead (PostgreSQL: no turns).
_SQLITE_TURN = threading.Lock()


def _turn() -> AbstractContextManager[object]:
    return _SQLITE_TURN if get_db().kind == "embedded" else nullcontext()


def _receive(sms: SmsIn, **options: Any) -> Outcome | None:
    try:
        with _turn():
            return receive(get_session(), sms, current_app.config["SETTINGS"], get_redis(),
                           **options)
    except LookupError:
        # The row its id collided with vanished (rolled back meanwhile): nothing was stored.
        log.warning("%s message %s collided with a vanished row", sms.provider,
                    sms.provider_message_id)
        return None


def _try_again() -> tuple[Response, int, dict[str, str]]:
    # Nothing was stored: the provider resends on a 5xx, and the resend will be stored.
    return (jsonify({"error": "Service Unavailable", "status": 503}), 503,
            {"Retry-After": "5"})


def _africastalking_reply_provider(sms: SmsIn) -> str:
    settings = current_app.config["SETTINGS"]
    if sms.provider_message_id.startswith(SIMULATOR_ID_PREFIX) or not (
        settings.africastalking.configured
    ):
        return "console"
    return africastalking.NAME


@bp.post("/africastalking/sms")
@require_africastalking_secret
def africastalking_sms() -> Any:
    """An inbound SMS; the reply goes out through the send API on the replies queue."""
    try:
        sms = africastalking.parse_sms(request.form)
    except ParseError as error:
        return _bad_request(error)
    kind = _africastalking_reply_provider(sms)
    outcome = _receive(sms, reply_provider=kind,
                       channel_id=environment_channel_id(get_session(), kind,
                                                          commit_new=True))
    if outcome is None:
        return _try_again()
    return jsonify({"status": "duplicate" if outcome.duplicate else "received",
                    "id": outcome.inbound_id})


@bp.post("/twilio/sms")
@require_twilio_signature
def twilio_sms() -> Any:
    """An inbound SMS; the reply goes back inline, in the TwiML answer."""
    try:
        sms = twilio.parse_sms(request.form)
    except ParseError as error:
        return _bad_request(error)
    outcome = _receive(sms, reply_provider=twilio.NAME, inline=True,
                       channel_id=environment_channel_id(get_session(), twilio.NAME,
                                                          commit_new=True))
    if outcome is None:
        return _try_again()
    return Response(twilio.render_twiml(outcome.replies), mimetype="text/xml")


def _report(parse: Callable[[Any], StatusUpdate]) -> Any:
    try:
        report = parse(request.form)
    except ParseError as error:
        return _bad_request(error)
    session = get_session()
    message = apply_status(session, current_app.config["SETTINGS"], get_redis(), report)
    session.commit()
    return jsonify({"status": "applied" if message is not None else "unknown",
                    "message": message.id if message is not None else None,
                    "current": str(message.status) if message is not None else None})


@bp.post("/africastalking/delivery")
@require_africastalking_secret
def africastalking_delivery() -> Any:
    """A delivery report for a message sent through Africa's Talking."""
    return _report(africastalking.parse_delivery_report)


@bp.post("/twilio/status")
@require_twilio_signature
def twilio_status() -> Any:
    """A status callback for a message sent through Twilio."""
    return _report(twilio.parse_status)
