"""The simulator plays an SMSGate phone: a member's SMS goes in as the app's signed webhook.

Like :mod:`.relay`, it runs inside the gateway's WSGI stack; it signs with the channel's own
key (server-side: the browser never sees it), so the gateway checks it as it checks a phone.
"""

from __future__ import annotations

import secrets
import zlib
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import select
from werkzeug.test import Client

from handlers import android

from ..channels.secrets import get_box
from ..db import get_db
from ..models.channels import Channel, ChannelState
from . import smsgate

WEBHOOK_PATH = "/webhooks/android/{id}"
#: The channel ``smsgateway dev`` makes for the demo cooperative, and its SIM's number.
SIMULATED_NAME = "Android phone (simulated)"
SIMULATED_NUMBER = "+212600000090"
#: The setting that marks a channel whose phone is the simulator (it answers its send API).
SIMULATED = "simulated"


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
    body = smsgate.envelope("sms:received", {
        "messageId": message_id, "message": text, "sender": phone, "recipient": recipient,
        "simNumber": 1, "receivedAt": received_at}, device_id(channel_id),
        webhook_id="simulator-sms-received")
    status, answer = post_event(app, channel_id, key, body)
    return status, answer, message_id


def device_id(channel_id: int) -> str:
    """The ``deviceId`` of the simulated phone behind channel ``channel_id``."""
    return f"simulator-{channel_id}"


def post_event(app: Flask, channel_id: int, key: str, body: bytes) -> tuple[int, str]:
    """Post one signed webhook ``body`` to the channel's webhook; its status and answer."""
    headers = {**smsgate.signed(key, body), "User-Agent": "smsgateway-simulator"}
    # A fresh app context: the webhook gets its own g and database session, closed after it.
    with app.app_context():
        response = Client(app).post(WEBHOOK_PATH.format(id=channel_id), data=body,
                                    headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"})
        try:
            return response.status_code, response.get_data(as_text=True)
        finally:
            response.close()


def ensure_phone_channel(app: Flask, cooperative_id: int, server_url: str, *,
                         active: bool = True) -> int:
    """The simulated phone's Android channel of ``cooperative_id`` (made once); its id.

    Its base URL points at the simulator's send API on ``server_url`` (updated: the port may
    change between runs); its password and signing key are made here and sealed as every
    channel's secrets. ``active`` False disables it: with the simulator off nothing answers
    for it, and the cooperative's messages go on its other channels.
    """
    box = get_box(app)
    with get_db(app).session() as session:
        channel = session.scalar(select(Channel).where(Channel.name == SIMULATED_NAME))
        if channel is None:
            channel = Channel(kind=android.NAME, name=SIMULATED_NAME, address=SIMULATED_NUMBER,
                              cooperative_id=cooperative_id, settings={}, health={},
                              secrets=box.seal({"password": secrets.token_urlsafe(18),
                                                "signing_key": secrets.token_urlsafe(24)}))
            session.add(channel)
            session.flush()
        settings = {"mode": "local", "username": smsgate.LOCAL_USERNAME, SIMULATED: True,
                    "base_url": f"{server_url.rstrip('/')}/simulator/android/{channel.id}"}
        if channel.settings != settings:
            channel.settings = settings
        state = ChannelState.ACTIVE if active else ChannelState.DISABLED
        # A phone the watcher marked down (the server was stopped) answers again now.
        if channel.state != state:
            channel.state = state
        session.commit()
        return channel.id


def is_simulated(channel: Channel | None) -> bool:
    """Whether ``channel`` is an Android channel whose phone is this simulator."""
    return channel is not None and channel.kind == android.NAME and bool(
        (channel.settings or {}).get(SIMULATED))
