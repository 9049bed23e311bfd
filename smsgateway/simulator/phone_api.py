"""The simulated Android phone's send API: ``/simulator/android/<channel id>/...``.

The gateway's worker sends on the simulated channel as on any SMSGate phone in local mode
(``POST /messages`` or ``/message`` with the channel's basic auth, ``GET /messages/{id}``,
``GET /health``), so the whole path runs without hardware. The message is then "on the
phone": the member's inbox on the simulator page shows it (the inbox reads the gateway's own
rows), and the phone reports ``sms:sent`` then ``sms:delivered`` through the signed webhook.

Not behind the simulator's password and JSON guard (the worker knows neither): behind the
channel's own basic auth, and 404 while the simulator is off. Message ids live in Redis
(``SET NX`` with an expiry), so every gunicorn worker agrees on a reused id (409).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from ..channels.secrets import get_box
from ..db import get_session
from ..models.channels import Channel
from ..redisconn import get_redis
from . import android, smsgate

log = logging.getLogger(__name__)
bp = Blueprint("simulator_android", __name__, url_prefix="/simulator/android")

#: A message's state, by channel and id: as long as the app keeps one (its 409 on reuse).
STATE_KEY = "smsgateway:simulator:android:{channel}:message:{id}"
STATE_TTL = 2 * 86400
#: Seconds before each try to report a message: the worker records the phone's answer (the
#: id a report names) just after it, so a report too early is "unknown" and tried again.
REPORT_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)


@bp.before_request
def _enabled() -> None:
    if not current_app.config["SETTINGS"].simulator.enabled:
        abort(404)


def _answer(answer: smsgate.Answer) -> Response:
    status, body = answer
    response = jsonify(body)
    response.status_code = status
    return response


def _channel(channel_id: int) -> tuple[Channel, dict[str, str]]:
    """The simulated channel and its secrets; the request is refused (404, 401) otherwise."""
    channel = get_session().get(Channel, channel_id)
    if channel is None or not android.is_simulated(channel):
        abort(_answer(smsgate.NOT_FOUND))
    secrets = get_box().open(channel.secrets or "")
    username = str((channel.settings or {}).get("username") or smsgate.LOCAL_USERNAME)
    if not smsgate.authorized(request.headers.get("Authorization"), username,
                              secrets.get("password", "")):
        abort(_answer(smsgate.UNAUTHORIZED))
    return channel, secrets


@bp.get("/<int:channel_id>/health")
def health(channel_id: int) -> ResponseReturnValue:
    """The phone's health, without auth as the app answers it (the watcher asks it)."""
    if not android.is_simulated(get_session().get(Channel, channel_id)):
        return _answer(smsgate.NOT_FOUND)
    return jsonify(smsgate.local_health())


@bp.post("/<int:channel_id>/messages")
@bp.post("/<int:channel_id>/message")
def send(channel_id: int) -> ResponseReturnValue:
    """Take one message into the phone's queue (202), then report on it from a thread."""
    channel, secrets = _channel(channel_id)
    sms = smsgate.read_send(request.get_json(silent=True))
    if not isinstance(sms, smsgate.SendRequest):
        return _answer(sms)
    message_id = sms.id or smsgate.new_id()
    device = android.device_id(channel_id)
    answer = smsgate.accepted(sms, message_id, device)
    key = STATE_KEY.format(channel=channel_id, id=message_id[:100])
    if not get_redis().set(key, json.dumps(answer[1]), nx=True, ex=STATE_TTL):
        return _answer(smsgate.conflict(message_id))
    job = _Reporter(current_app._get_current_object(), channel_id, secrets.get(
        "signing_key", ""), sms, message_id, channel.address or "")
    response = _answer(answer)
    # Only once the 202 is on its way: the phone reports what it has taken.
    response.call_on_close(job.start)
    return response


@bp.get("/<int:channel_id>/messages/<message_id>")
def message_state(channel_id: int, message_id: str) -> ResponseReturnValue:
    """A message's state (Pending, Sent, Delivered)."""
    _channel(channel_id)
    stored = get_redis().get(STATE_KEY.format(channel=channel_id, id=message_id[:100]))
    if stored is None:
        return _answer(smsgate.NOT_FOUND)
    return jsonify(json.loads(stored))


class _Reporter:
    """The phone reporting on one message: signed ``sms:sent``, then ``sms:delivered``."""

    def __init__(self, app: Flask, channel_id: int, key: str, sms: smsgate.SendRequest,
                 message_id: str, sender: str) -> None:
        self.app, self.channel_id, self.key = app, channel_id, key
        self.sms, self.message_id, self.sender = sms, message_id, sender

    def start(self) -> None:
        """Report from a thread of its own (daemon: a stopping server does not wait)."""
        threading.Thread(target=self.run, name=f"simulator-phone-{self.channel_id}",
                         daemon=True).start()

    def run(self) -> None:
        """Post each event, then record the message's new state."""
        try:
            for event, payload in smsgate.status_events(self.sms, self.message_id,
                                                        self.sender):
                if not self._post(event, payload):
                    return
                self._record("Sent" if event == "sms:sent" else "Delivered")
        except Exception:  # a thread's error would go nowhere: say it in the log
            log.exception("simulated phone %s: report on %s failed", self.channel_id,
                          self.message_id)

    def _post(self, event: str, payload: dict[str, Any]) -> bool:
        """Post one event, again while the gateway does not know the id yet."""
        device = android.device_id(self.channel_id)
        for delay in REPORT_DELAYS:
            time.sleep(delay)
            body = smsgate.envelope(event, payload, device)  # a new envelope each try
            status, answer = android.post_event(self.app, self.channel_id, self.key, body)
            if status == 200 and _known(answer):
                return True
            log.info("simulated phone %s: %s on %s answered %s, trying again",
                     self.channel_id, event, self.message_id, status)
        log.warning("simulated phone %s: gave up reporting %s on %s", self.channel_id, event,
                    self.message_id)
        return False

    def _record(self, current: str) -> None:
        """The message's state, as ``GET /messages/{id}`` tells it."""
        with self.app.app_context():
            redis = get_redis()
            key = STATE_KEY.format(channel=self.channel_id, id=self.message_id)
            stored = redis.get(key)
            if stored is None:
                return
            body = json.loads(stored)
            body["states"][current] = smsgate.now()
            body["state"] = current
            for recipient in body["recipients"]:
                recipient["state"] = current
            redis.set(key, json.dumps(body), xx=True, keepttl=True)


def _known(answer: str) -> bool:
    """Whether the webhook knew the message (else the worker has not recorded its id yet)."""
    try:
        return json.loads(answer).get("status") != "unknown"
    except (ValueError, AttributeError):
        return True
