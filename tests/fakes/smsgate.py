"""A fake SMS Gateway for Android (SMSGate) phone on 127.0.0.1, speaking the app's real API.

The wire format (validation, answers, events, signatures) is
:mod:`smsgateway.simulator.smsgate`, shared with the simulator; the server, the queue and the
faults are here.

Local-server API: ``POST /messages`` (and ``/message``) with basic auth, answered 202 with
the message state, 409 for an ``id`` already used on this device, 503 ``QueueLimitExceeded``
when its queue is full, 400/401 as the app does; ``POST/GET/DELETE /webhooks``; ``GET
/health`` without auth. Webhook events are signed as the app signs them (``X-Signature``:
hex HMAC-SHA256 of the raw body followed by ``X-Timestamp``) with a new envelope id on each
emission, retries included. Events wait in :attr:`FakePhone.pending` until the test posts
them (:meth:`flush`), so a test decides when the phone "has network". ``kill`` stops it
answering at all (a phone switched off); ``silent`` stops its pings.

``server="cloud"`` or ``"private"`` serves the same API as the SMSGate server does, under
``/3rdparty/v1`` (no singular ``/message``, no phone ``/health``); a private server also
answers ``/health/live`` and ``/health/ready`` without auth, and the cloud neither (the
gateway watches a cloud phone through its ``system:ping`` only).
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from smsgateway.simulator import smsgate
from smsgateway.simulator.smsgate import signed

__all__ = ["SERVERS", "Event", "FakePhone", "signed"]

#: Where the API lives: the phone's own server, the project's cloud, a private server.
SERVERS = ("local", "cloud", "private")
API_PREFIX = "/3rdparty/v1"


@dataclass
class Event:
    """One webhook emission: the raw body and its headers, as the phone would post them."""

    event: str
    payload: dict[str, Any]
    body: bytes
    headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _reply(self, status: int, body: Any) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return None

    def _dead(self) -> bool:
        # A switched-off phone: even a kept-alive connection gets no answer.
        if not self.server.phone.alive:
            self.close_connection = True
            return True
        return False

    def do_GET(self) -> None:  # noqa: N802
        if self._dead():
            return
        status, body = self.server.phone.get(self.path, self.headers.get("Authorization"))
        self._reply(status, body)

    def do_POST(self) -> None:  # noqa: N802
        if self._dead():
            return
        status, body = self.server.phone.post(self.path, self.headers.get("Authorization"),
                                              self._body())
        self._reply(status, body)

    def do_DELETE(self) -> None:  # noqa: N802
        if self._dead():
            return
        status, body = self.server.phone.delete(self.path, self.headers.get("Authorization"))
        self._reply(status, body)

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    phone: FakePhone


class FakePhone:
    """One phone with the SMSGate app, its local server on, a SIM, and a signing key."""

    def __init__(self, *, password: str = "phone-pass", signing_key: str = "sign-key",
                 device_id: str | None = None, queue_limit: int | None = None,
                 number: str = "+212611111111", server: str = "local") -> None:
        assert server in SERVERS, server
        self.server = server
        self.username = smsgate.LOCAL_USERNAME if server == "local" else "CLOUDUSER"
        self.password = password
        self.signing_key = signing_key
        self.device_id = device_id or uuid.uuid4().hex[:20]
        self.number = number
        self.queue_limit = queue_limit
        #: id -> the send request body, for every message the phone took.
        self.messages: dict[str, dict[str, Any]] = {}
        #: (number, text) of every SMS the phone "sent" (taken into its queue).
        self.sent: list[tuple[str, str]] = []
        self.webhooks: dict[str, dict[str, str]] = {}
        self.pending: list[Event] = []
        self.requests = Counter[str]()
        self.battery = 87
        self.alive = True
        #: Switch the phone off once it has taken this many messages (a phone dying mid-way).
        self.die_after: int | None = None
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._port = 0
        self._ids = itertools.count(1)

    # -- the server ------------------------------------------------------------------------

    def start(self) -> FakePhone:
        """Listen (again, on the same port after :meth:`kill`)."""
        self._server = _Server(("127.0.0.1", self._port), _Handler)
        self._server.phone = self
        self._port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.alive = True
        return self

    def kill(self) -> None:
        """The phone is switched off: nothing listens any more, nothing is emitted."""
        self.alive = False
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakePhone:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()

    @property
    def base_url(self) -> str:
        """Where the gateway sends: the phone's server, or the server's ``/3rdparty/v1``."""
        root = f"http://127.0.0.1:{self._port}"
        return root if self.server == "local" else root + API_PREFIX

    def _api_path(self, path: str) -> str | None:
        """The API path of a request (prefix removed), or None when outside the API."""
        if self.server == "local":
            return path
        if not path.startswith(API_PREFIX + "/"):
            return None
        return path[len(API_PREFIX):]

    def _server_health(self) -> dict[str, Any]:
        return {"status": "pass", "version": "1.25.0", "releaseId": 1,
                "checks": {"db:ping": {"status": "pass", "observedValue": 0}}}

    @property
    def received(self) -> Counter[str]:
        """How many SMS each number got from this phone."""
        return Counter(number for number, _ in self.sent)

    # -- the API ---------------------------------------------------------------------------

    def _authorized(self, header: str | None) -> bool:
        return smsgate.authorized(header, self.username, self.password)

    def get(self, path: str, auth: str | None) -> tuple[int, Any]:
        self.requests[f"GET {path}"] += 1
        if self.server == "private" and path in ("/health/live", "/health/ready"):
            return 200, self._server_health()
        api = self._api_path(path)
        if api is None:
            return 404, {"message": "Not Found"}
        path = api
        if path == "/health" and self.server == "local":
            return 200, smsgate.local_health(self.battery)
        if not self._authorized(auth):
            return smsgate.UNAUTHORIZED
        if path == "/webhooks":
            return 200, list(self.webhooks.values())
        if path.startswith("/messages/"):
            found = self.messages.get(path.rsplit("/", 1)[1])
            return (200, {"id": found["id"], "state": "Sent"}) if found else (404, {})
        return 404, {"message": "Not Found"}

    def delete(self, path: str, auth: str | None) -> tuple[int, Any]:
        api = self._api_path(path)
        if api is None:
            return 404, {"message": "Not Found"}
        path = api
        if not self._authorized(auth):
            return smsgate.UNAUTHORIZED
        if path.startswith("/webhooks/"):
            self.webhooks.pop(path.rsplit("/", 1)[1], None)
            return 204, {}
        return 404, {}

    def post(self, path: str, auth: str | None, body: Any) -> tuple[int, Any]:
        self.requests[f"POST {path}"] += 1
        api = self._api_path(path)
        if api is None:
            return 404, {"message": "Not Found"}
        path = api
        if not self._authorized(auth):
            return smsgate.UNAUTHORIZED
        if path == "/webhooks":
            return self._register(body)
        singular = ("/message",) if self.server == "local" else ()
        if path not in ("/messages", *singular):
            return 404, {"message": "Not Found"}
        return self._send(body)

    def _register(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not body.get("url") or not body.get("event"):
            return 400, {"message": "url and event are required"}
        url = str(body["url"])
        if not (url.startswith("https://") or url.startswith("http://127.0.0.1")):
            return 400, {"message": "url must be https:// (or http://127.0.0.1)"}
        hook_id = str(body.get("id") or uuid.uuid4().hex)
        self.webhooks[hook_id] = {"id": hook_id, "url": url, "event": str(body["event"])}
        return 201, self.webhooks[hook_id]

    def _send(self, body: Any) -> tuple[int, Any]:
        request = smsgate.read_send(body)
        if not isinstance(request, smsgate.SendRequest):
            return request
        with self._lock:
            message_id = request.id or smsgate.new_id()
            if message_id in self.messages:
                return smsgate.conflict(message_id)
            if self.queue_limit is not None and len(self.messages) >= self.queue_limit:
                return 503, {"error": "QueueLimitExceeded"}
            self.messages[message_id] = body
            for number in request.numbers:
                self.sent.append((number, request.text))
            if self.die_after is not None and len(self.messages) == self.die_after:
                self.alive = False
                threading.Thread(target=self.kill, daemon=True).start()
        for event, payload in smsgate.status_events(request, message_id, self.number):
            self.emit(event, payload)
        return smsgate.accepted(request, message_id, self.device_id)

    # -- events ----------------------------------------------------------------------------

    def envelope(self, event: str, payload: dict[str, Any]) -> Event:
        """A new emission of ``event``: a fresh envelope id, signed now."""
        body = smsgate.envelope(event, payload, self.device_id)
        return Event(event, payload, body, signed(self.signing_key, body))

    def emit(self, event: str, payload: dict[str, Any]) -> Event:
        """Queue an event for the gateway (posted by :meth:`flush`)."""
        emitted = self.envelope(event, payload)
        if self.alive:
            with self._lock:
                self.pending.append(emitted)
        return emitted

    def receive_sms(self, sender: str, text: str, received_at: str | None = None) -> Event:
        """A member texts the phone's SIM; its ``messageId`` is a 32-bit hash of the text."""
        received_at = received_at or smsgate.now()
        message_id = format(zlib.crc32(f"{text}{received_at[:10]}".encode()), "08x")
        return self.emit("sms:received", {
            "messageId": message_id, "message": text, "sender": sender,
            "recipient": self.number, "simNumber": 1, "receivedAt": received_at})

    def retry(self, emitted: Event) -> Event:
        """The app retrying an event it thinks was not acknowledged: a new envelope id."""
        return self.emit(emitted.event, emitted.payload)

    def ping(self) -> Event:
        """``system:ping`` with the phone's health."""
        return self.emit("system:ping", {"health": {"battery": self.battery, "signal": -71}})

    def flush(self, post: Callable[[Event], Any]) -> list[Any]:
        """Post every pending event in order with ``post``; returns its answers."""
        with self._lock:
            events, self.pending = self.pending, []
        return [post(event) for event in events]
