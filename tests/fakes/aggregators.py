"""Fake HTTP aggregators on loopback: Infobip's SMS API, Jasmin's HTTP API, Kannel's sendsms.

Each checks what the real one checks (credentials, required fields) and answers in its own
format: Infobip JSON, Jasmin ``Success "<id>"`` text, Kannel ``0: Accepted for delivery``.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Sent:
    """One message an aggregator took."""

    to: str
    text: str
    sender: str
    message_id: str
    fields: dict[str, Any] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        status, content_type, answer = self.server.fake.answer(
            self.command, url.path, dict(self.headers.items()), query, body)
        data = answer.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _serve  # noqa: N815 (http.server's naming)

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeAggregator


class FakeAggregator:
    """Common machinery: a threaded server and the messages taken."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.requests = 0
        self.reject: set[str] = set()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def took(self, sent: Sent) -> None:
        with self._lock:
            self.sent.append(sent)

    def answer(self, method: str, path: str, headers: dict[str, str], query: dict[str, str],
               body: bytes) -> tuple[int, str, str]:
        raise NotImplementedError


class FakeInfobip(FakeAggregator):
    """``POST /sms/3/messages`` with ``Authorization: App <key>``."""

    api_key = "ib-key"

    def answer(self, method: str, path: str, headers: dict[str, str], query: dict[str, str],
               body: bytes) -> tuple[int, str, str]:
        self.requests += 1
        if path != "/sms/3/messages" or method != "POST":
            return 404, "application/json", json.dumps({"errorCode": "E404"})
        if headers.get("Authorization") != f"App {self.api_key}":
            return 401, "application/json", json.dumps({"errorCode": "E401",
                                                        "description": "Unauthorized"})
        request = json.loads(body)
        out = []
        for message in request["messages"]:
            for destination in message["destinations"]:
                to = destination["to"]
                message_id = destination.get("messageId") or uuid.uuid4().hex
                rejected = to in self.reject
                out.append({"messageId": message_id, "destination": to,
                            "status": {"groupName": "REJECTED" if rejected else "PENDING",
                                       "name": "REJECTED_DESTINATION" if rejected
                                       else "PENDING_ACCEPTED"}})
                if not rejected:
                    self.took(Sent(to, message["content"]["text"], message["sender"],
                                   message_id, message))
        return 200, "application/json", json.dumps({"bulkId": uuid.uuid4().hex,
                                                    "messages": out})


class FakeJasmin(FakeAggregator):
    """``GET /send?username&password&to&from&content|hex-content&coding&dlr...``."""

    username, password = "coop", "jasmin-pass"

    def answer(self, method: str, path: str, headers: dict[str, str], query: dict[str, str],
               body: bytes) -> tuple[int, str, str]:
        self.requests += 1
        if path != "/send":
            return 404, "text/plain", 'Error "Not found"'
        if (query.get("username"), query.get("password")) != (self.username, self.password):
            return 403, "text/plain", 'Error "Authentication failure for username:coop"'
        if "to" not in query or not ("content" in query or "hex-content" in query):
            return 400, "text/plain", 'Error "Mandatory arguments not found"'
        if query.get("to") in self.reject:
            return 412, "text/plain", 'Error "Cannot route message"'
        text = (bytes.fromhex(query["hex-content"]).decode("utf-16-be")
                if "hex-content" in query else query["content"])
        message_id = str(uuid.uuid4())
        self.took(Sent(query["to"], text, query.get("from", ""), message_id, query))
        return 200, "text/plain", f'Success "{message_id}"'


class FakeKannel(FakeAggregator):
    """``GET /cgi-bin/sendsms?username&password&to&from&text&dlr-mask&dlr-url``."""

    username, password = "kannel", "kannel-pass"
    _ids = itertools.count(1)

    def answer(self, method: str, path: str, headers: dict[str, str], query: dict[str, str],
               body: bytes) -> tuple[int, str, str]:
        self.requests += 1
        if path != "/cgi-bin/sendsms":
            return 404, "text/plain", "Unknown request"
        if (query.get("username"), query.get("password")) != (self.username, self.password):
            return 403, "text/plain", "Authorization failed for sendsms"
        if not query.get("to") or "text" not in query:
            return 400, "text/plain", "Missing receiver number, rejected"
        self.took(Sent(query["to"], query["text"], query.get("from", ""),
                       str(next(self._ids)), query))
        return 202, "text/plain", "0: Accepted for delivery"
