"""The simulator plays an SMSGate phone: a member's SMS goes in as the app's signed webhook.

Like :mod:`.relay`, it runs inside the gateway's WSGI stack; it signs with the channel's own
key (server-side: the browser never sees it), so the gateway checks it as it checks a phone.
"""

from __future__ import annotations

import json
import time
import uuid
import zlib
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import select
from werkzeug.test import Client

from handlers import android

from ..channels.secrets import get_box
from ..db import get_db
from ..models.channels import Channel

WEBHOOK_PATH = "/webhooks/android/{id}"


def phone_channels(app: Flask) -> list[dict[str, object]]:
    """The Android channels the simulator can play (id, name, number)."""
    with get_db(app).session() as session:
        return [{"id": c.id, "name": c.name, "number": c.address}
                for c in session.scalars(select(Channel).where(Channel.kind == android.NAME)
                                         .order_by(Channel.id))]


def inbound_sms(app: Flask, channel_id: int, *, phone: str, text: str
                ) -> tuple[int, str, str] | None:
    """Post ``sms:received`` from ``phone`` as channel ``channel_id``'s phone would; None
    when there is no such Android channel. Returns status, body and the payload's id."""
    with get_db(app).session() as session:
        channel = session.get(Channel, channel_id)
        if channel is None or channel.kind != android.NAME:
            return None
        key = get_box(app).open(channel.secrets).get("signing_key", "")
        recipient = channel.address or ""
    received_at = datetime.now(UTC).isoformat(timespec="milliseconds")
    # The app's messageId is a hash of the content; receivedAt tells two sendings apart.
    message_id = format(zlib.crc32(text.encode()), "08x")
    body = json.dumps({"id": uuid.uuid4().hex, "webhookId": "simulator-sms-received",
                       "deviceId": f"simulator-{channel_id}", "event": "sms:received",
                       "payload": {"messageId": message_id, "message": text, "sender": phone,
                                   "recipient": recipient, "simNumber": 1,
                                   "receivedAt": received_at}}).encode()
    stamp = str(int(time.time()))
    headers = {"X-Signature": android.sign(key, body, stamp), "X-Timestamp": stamp,
               "User-Agent": "smsgateway-simulator"}
    with app.app_context():
        response = Client(app).post(WEBHOOK_PATH.format(id=channel_id), data=body,
                                    content_type="application/json", headers=headers,
                                    environ_base={"REMOTE_ADDR": "127.0.0.1"})
        try:
            return response.status_code, response.get_data(as_text=True), message_id
        finally:
            response.close()
