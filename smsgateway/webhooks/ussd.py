"""Africa's Talking USSD callbacks.

A hop always gets 200 with ``CON``/``END`` text: a garbled callback gets a short ``END``
screen rather than an error page the phone would show as a failure.
"""

from __future__ import annotations

import logging

from flask import Response, current_app, request

from handlers import africastalking
from handlers.base import ParseError, UssdOut
from menus.catalog import all_languages

from .. import ussd
from ..db import get_db
from ..redisconn import get_redis
from ..services import audit
from .guards import require_africastalking_secret, webhook_blueprint

log = logging.getLogger(__name__)
bp = webhook_blueprint("webhooks_ussd", __name__)

# Parse the menus when a worker starts, not on its first calls.
ussd.get_menu()

MALFORMED = UssdOut(all_languages("malformed"), end=True)


def _plain(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


@bp.post("/africastalking/ussd")
@require_africastalking_secret
def africastalking_ussd() -> Response:
    """One USSD hop: parse, answer from the menus, render ``CON``/``END``."""
    try:
        hop = africastalking.parse_ussd(request.form)
    except ParseError as error:
        log.info("malformed USSD callback: %s", error)
        return _plain(africastalking.render_ussd(MALFORMED))
    answer = ussd.handle(hop, current_app.config["SETTINGS"], get_redis())
    return _plain(africastalking.render_ussd(answer))


@bp.post("/africastalking/ussd/events")
@require_africastalking_secret
def africastalking_ussd_event() -> Response:
    """End-of-session notification: record it in the audit log and drop the session."""
    try:
        event = africastalking.parse_ussd_event(request.form)
    except ParseError as error:
        return _plain(f"bad request: {error}", 400)
    ussd.session_ended(get_redis(), event.session_id, event.phone, event.status)
    with get_db().session() as session:
        audit.record(session, "ussd.session_end", "ussd_session", None, channel="ussd",
                     actor_label=event.phone[:100],
                     details={"session_id": event.session_id[:200],
                              "status": event.status[:40], "hops": event.hops,
                              "duration_ms": event.duration_ms,
                              "error": (event.error_message or "")[:300]})
    return _plain("OK")
