"""Fake Africa's Talking and Twilio HTTP servers on 127.0.0.1, for tests and benchmarks.

They check what the real APIs check (credentials, required fields), answer in the real JSON
shapes, record every request, and can be told to fail: a whole request (``fail_next``), one
number (``program``), or a share of requests with injected faults (``inject``: latency, 5xx,
429, a dropped connection, a timeout or a drop *after* taking the request). ``received``
counts what each phone really got: the recipients of every request the fake took, whether or
not its answer reached the client. Africa's Talking's fake also posts delivery reports
(``report_to``), with duplicates, out-of-order pairs and losses on demand.
"""

from __future__ import annotations

import abc
import base64
import itertools
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from fakes.faults import (
    DROP,
    DROP_AFTER_ACCEPT,
    DROPPED,
    SERVER_ERROR,
    TAKEN_FAULTS,
    TIMEOUT_AFTER_ACCEPT,
    TOO_MANY,
    FaultPlan,
    Reporter,
    ReportPlan,
)


@dataclass
class Recorded:
    """One request the fake received."""

    path: str
    headers: dict[str, str]
    form: dict[str, str]
    #: The injected fault it met, if any.
    fault: str | None = None
    #: Provider ids of the messages the fake took from it.
    taken: list[str] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        request = Recorded(self.path, dict(self.headers.items()), form)
        status, body = self.server.fake.handle(request)
        if body is DROP:
            self.close_connection = True  # no status line: the client sees the line drop
            return
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeProvider


class FakeProvider(abc.ABC):
    """Common machinery: a threaded server, the record of requests, programmed failures."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.programmed: dict[str, Any] = {}
        self.plan = FaultPlan()
        #: (number, text) of every message the fake took, answered or not.
        self.accepted: list[tuple[str, str]] = []
        self._failures: list[tuple[int, dict[str, Any]]] = []
        self._next_faults: list[str] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """Where the fake listens."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail_next(self, count: int = 1, status: int = 500,
                  body: dict[str, Any] | None = None) -> None:
        """Answer the next ``count`` requests with ``status`` and ``body``."""
        with self._lock:
            self._failures.extend([(status, body or {"error": "fake failure"})] * count)

    def program(self, number: str, outcome: Any) -> None:
        """Make every send to ``number`` end with ``outcome`` (provider specific)."""
        self.programmed[number] = outcome

    def fault_next(self, fault: str, count: int = 1) -> None:
        """The next ``count`` requests meet ``fault`` (one of :data:`FAULTS`)."""
        with self._lock:
            self._next_faults.extend([fault] * count)

    def inject(self, plan: FaultPlan) -> None:
        """From now on, requests meet faults as ``plan`` says."""
        self.plan = plan

    @property
    def received(self) -> Counter[str]:
        """How many messages each phone got."""
        return Counter(number for number, _text in self.accepted)

    def taken_unanswered(self) -> set[str]:
        """Provider ids of the messages taken from requests that got no answer."""
        return {i for r in self.requests if r.fault in TAKEN_FAULTS for i in r.taken}

    def faults_met(self) -> Counter[str]:
        """How many requests met each fault."""
        return Counter(r.fault for r in self.requests if r.fault)

    def handle(self, request: Recorded) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(request)
            if self._failures:
                return self._failures.pop(0)
            request.fault = fault = (self._next_faults.pop(0) if self._next_faults
                                     else self.plan.draw())
        if self.plan.latency:
            time.sleep(self.plan.latency)
        if fault == SERVER_ERROR:
            return 503, {"error": "fake: service unavailable"}
        if fault == TOO_MANY:
            return 429, {"error": "fake: too many requests"}
        if fault == DROPPED:
            return 0, DROP
        status, body = self.answer(request)
        if fault == TIMEOUT_AFTER_ACCEPT:
            time.sleep(self.plan.hang)
            return 0, DROP
        if fault == DROP_AFTER_ACCEPT:
            return 0, DROP
        return status, body

    def took(self, number: str, text: str) -> None:
        """Record that ``number`` got ``text`` (the provider took it)."""
        with self._lock:
            self.accepted.append((number, text))

    @abc.abstractmethod
    def answer(self, request: Recorded) -> tuple[int, dict[str, Any]]:
        """The status and JSON body the provider would send back."""

    def __enter__(self) -> FakeProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class FakeAfricasTalking(FakeProvider):
    """``POST /version1/messaging`` as Africa's Talking answers it."""

    def __init__(self, username: str = "sandbox", api_key: str = "test-key") -> None:
        super().__init__()
        self.username = username
        self.api_key = api_key
        self._ids = itertools.count(1)
        self.reporter: Reporter | None = None

    def report_to(self, plan: ReportPlan) -> Reporter:
        """Post a delivery report on every message taken from now on, as ``plan`` says."""
        self.reporter = Reporter(plan)
        return self.reporter

    def __exit__(self, *exc: object) -> None:
        if self.reporter is not None:
            self.reporter.stop()
        super().__exit__(*exc)

    @property
    def sent(self) -> list[tuple[str, str]]:
        """(number, text) for every recipient of every accepted request."""
        return [(number, r.form["message"]) for r in self.requests
                if r.path == "/version1/messaging" and "to" in r.form
                for number in r.form["to"].split(",")]

    def answer(self, request: Recorded) -> tuple[int, dict[str, Any]]:
        if request.path != "/version1/messaging":
            return 404, {"error": "not found"}
        if request.headers.get("apiKey") != self.api_key:
            return 401, {"error": "The supplied authentication is invalid"}
        form = request.form
        if form.get("username") != self.username or not form.get("to") or "message" not in form:
            return 400, {"error": "missing username, to or message"}
        recipients = []
        for number in form["to"].split(","):
            code = self.programmed.get(number, 101)
            ok = code in (100, 101, 102)
            recipients.append({
                "statusCode": code,
                "number": number,
                "status": {100: "Processed", 101: "Success", 102: "Queued", 403:
                           "InvalidPhoneNumber", 406: "UserInBlacklist", 500:
                           "InternalServerError"}.get(code, "Failed"),
                "cost": "MAD 0.2500" if ok else "0",
                "messageId": f"ATXid_{next(self._ids)}" if ok else "None",
                "messageParts": 1,
            })
            if ok:
                self.took(number, form["message"])
                request.taken.append(str(recipients[-1]["messageId"]))
                if self.reporter is not None:
                    self.reporter.report(str(recipients[-1]["messageId"]), number,
                                         answered=request.fault not in TAKEN_FAULTS)
        sent = sum(1 for r in recipients if r["statusCode"] in (100, 101, 102))
        return 201, {"SMSMessageData": {
            "Message": f"Sent to {sent}/{len(recipients)} Total Cost: MAD {0.25 * sent:.4f}",
            "Recipients": recipients,
        }}


class FakeTwilio(FakeProvider):
    """``POST /2010-04-01/Accounts/{sid}/Messages.json`` as Twilio answers it."""

    def __init__(self, account_sid: str = "ACtest", auth_token: str = "test-token") -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token

    @property
    def sent(self) -> list[tuple[str, str]]:
        """(number, text) for every request Twilio would have accepted."""
        return [(r.form["To"], r.form["Body"]) for r in self.requests
                if r.path.endswith("/Messages.json") and r.form.get("To") not in self.programmed]

    def answer(self, request: Recorded) -> tuple[int, dict[str, Any]]:
        if request.path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return 404, {"code": 20404, "message": "The requested resource was not found",
                         "status": 404}
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        form = request.form
        if not form.get("To") or not (form.get("From") or form.get("MessagingServiceSid")):
            return 400, {"code": 21604, "message": "A 'To' and 'From' are required",
                         "status": 400}
        if form["To"] in self.programmed:
            status, code = self.programmed[form["To"]]
            return status, {"code": code, "message": f"fake error {code}",
                            "more_info": f"https://www.twilio.com/docs/errors/{code}",
                            "status": status}
        self.took(form["To"], form.get("Body", ""))
        return 201, {
            "sid": "SM" + uuid.uuid4().hex, "status": "queued", "to": form["To"],
            "from": form.get("From"), "body": form.get("Body"), "num_segments": "1",
            "price": None, "error_code": None, "error_message": None,
        }


class ProviderHarness:
    """A fake provider plus an app that sends through it, and a worker for that app."""

    def __init__(self, server: FakeProvider, app: Any) -> None:
        self.server = server
        self.app = app

    def run_jobs(self) -> bool:
        """Run queued jobs with a real worker inside this app."""
        from smsgateway.worker import run_burst

        return run_burst(self.app)


@pytest.fixture
def fake_africastalking(make_app: Any) -> Iterator[ProviderHarness]:
    """A fake Africa's Talking and an app configured to send through it."""
    with FakeAfricasTalking() as server:
        app = make_app(africastalking={"username": server.username, "api_key": server.api_key,
                                       "base_url": server.base_url, "sender": "COOP"})
        yield ProviderHarness(server, app)


@pytest.fixture
def fake_twilio(make_app: Any) -> Iterator[ProviderHarness]:
    """A fake Twilio and an app configured to send through it."""
    with FakeTwilio() as server:
        app = make_app(twilio={"account_sid": server.account_sid,
                               "auth_token": server.auth_token,
                               "base_url": server.base_url, "sender": "COOP"},
                       public_base_url="https://gateway.example.org")
        yield ProviderHarness(server, app)
