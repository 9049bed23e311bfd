"""The naive design the broadcast benchmark compares against: one RQ job per message.

Each job runs in a fork of RQ's default Worker, loads its one message, calls the provider for
it and records the answer (one UPDATE through the ORM): what a first version usually looks
like. The app is built when this
module is imported: in every fork under a plain ``rq worker``, once before forking when the
worker imports the module first (the naive design's best case).
"""

from __future__ import annotations

from handlers.base import SmsOut
from smsgateway import create_app
from smsgateway.db import get_db, utcnow
from smsgateway.models import OutboundMessage, OutboundStatus
from smsgateway.providers import get_provider

APP = create_app()


def send_one(message_id: int) -> str:
    """Send one stored message."""
    app = APP
    with app.app_context(), get_db(app).session() as session:
        message = session.get(OutboundMessage, message_id)
        if message is None or message.status != OutboundStatus.QUEUED:
            return "skipped"
        provider = get_provider(message.provider)
        result = provider.send([SmsOut(message.id, message.to_phone, message.text)])[0]
        message.status_at = utcnow()
        if result.error is not None:
            message.status = OutboundStatus.FAILED
            message.failure_reason = result.error.reason[:200]
        else:
            message.status = OutboundStatus(result.status)
            message.provider_message_id = result.provider_message_id
            message.sent_at = message.status_at
        session.commit()
        return str(message.status)
