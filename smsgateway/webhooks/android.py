"""Signed events from SMSGate phones: ``/webhooks/android/<channel id>``.

Nothing of a request is read before its signature and timestamp are checked against the
channel's signing key (401 otherwise). A stored or applied event answers 200 quickly (the
phone waits 30 s, then retries with a new envelope id for two days); a duplicate too.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import abort, jsonify, request

from handlers import android
from handlers.base import ParseError, SmsIn, StatusUpdate

from ..channels.secrets import get_box
from ..db import get_session
from ..models.channels import Channel
from ..reports import apply_status
from ..services import channel_health
from .guards import webhook_blueprint
from .sms import _bad_request, _receive, _try_again

log = logging.getLogger(__name__)
bp = webhook_blueprint("webhooks_android", __name__)


def _signing_key(channel: Channel) -> str:
    return get_box().open(channel.secrets or "").get("signing_key", "")


@bp.post("/android/<int:channel_id>")
def android_event(channel_id: int) -> Any:
    """One webhook event of the phone behind channel ``channel_id``."""
    session = get_session()
    channel = session.get(Channel, channel_id)
    if channel is None or channel.kind != android.NAME:
        abort(404)
    body = request.get_data(cache=False)
    why = android.verify(_signing_key(channel), body, request.headers.get("X-Timestamp"),
                         request.headers.get("X-Signature"), time.time())
    if why is not None:
        log.warning("android webhook for channel %s refused: %s", channel_id, why)
        return jsonify({"error": "Unauthorized", "status": 401}), 401
    try:
        event = android.parse_event(body)
    except ParseError as error:
        return _bad_request(error)
    if isinstance(event, android.Health):
        channel_health.seen(session, channel, event.event, event.details)
    else:
        channel_health.seen(session, channel)
    session.commit()
    if isinstance(event, SmsIn):
        outcome = _receive(event, reply_provider=android.NAME, channel_id=channel.id)
        if outcome is None:
            return _try_again()
        return jsonify({"status": "duplicate" if outcome.duplicate else "received",
                        "id": outcome.inbound_id})
    if isinstance(event, StatusUpdate):
        message = apply_status(session, event)
        session.commit()
        return jsonify({"status": "applied" if message is not None else "unknown",
                        "current": str(message.status) if message is not None else None})
    return jsonify({"status": "noted", "event": event.event})
