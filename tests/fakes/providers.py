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
import queue
import random
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
import requests

#: An answer that is no answer: the fake closes the connection without a response.
DROP: dict[str, Any] = {"_drop": True}

#: Injectable faults. ``*-after-accept`` ones take the request (the phones get it) first.
SERVER_ERROR = "5xx"
TOO_MANY = "429"
DROPPED = "drop"  # the connection closes before the request is taken
TIMEOUT_AFTER_ACCEPT = "timeout-after-accept"
DROP_AFTER_ACCEPT = "drop-after-accept"
FAULTS = (SERVER_ERROR, TOO_MANY, DROPPED, TIMEOUT_AFTER_ACCEPT, DROP_AFTER_ACCEPT)
TAKEN_FAULTS = frozenset({TIMEOUT_AFTER_ACCEPT, DROP_AFTER_ACCEPT})


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


@dataclass
class FaultPlan:
    """A share of requests that meet a fault, drawn from ``kinds`` with a fixed seed."""

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULTS
    latency: float = 0.0
    #: How long a ``timeout-after-accept`` request hangs (longer than the client's timeout).
    hang: float = 1.0
    seed: int = 1
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def draw(self) -> str | None:
        """The fault the next request meets, or None."""
        if self.rate and self.rng.random() < self.rate:
            return self.rng.choice(self.kinds)
        return None


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


@dataclass
class ReportPlan:
    """Where and how the fake posts delivery reports (one ``Success`` per message taken)."""

    url: str
    #: Shares of messages whose report comes twice, comes as Success then a late Sent, or
    #: never comes.
    duplicate: float = 0.0
    out_of_order: float = 0.0
    lost: float = 0.0
    #: Seconds between taking a message and reporting on it.
    delay: float = 0.0
    #: Share of the messages of *answered* requests reported on (those of requests left
    #: unanswered always are, but for ``lost``): fewer reports for a test process to take.
    sample: float = 1.0
    threads: int = 4
    seed: int = 2


class _Reporter:
    """Posts delivery reports in the background, as the provider's callbacks would."""

    def __init__(self, plan: ReportPlan) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.pending: queue.Queue[tuple[float, dict[str, str]] | None] = queue.Queue()
        self.answers: Counter[int] = Counter()
        #: Provider ids of the messages never reported on.
        self.lost: set[str] = set()
        #: When each message was taken, and when its first report was answered (monotonic).
        self.taken_at: dict[str, float] = {}
        self.reported_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True)
                         for _ in range(plan.threads)]
        for thread in self._threads:
            thread.start()

    def report(self, message_id: str, number: str, answered: bool = True) -> None:
        """Queue the report(s) on one message, as the plan says."""
        success = {"id": message_id, "status": "Success", "phoneNumber": number,
                   "networkCode": "60400", "retryCount": "0"}
        with self._lock:
            if answered and self.rng.random() >= self.plan.sample:
                return
            draw = self.rng.random()
            self.taken_at[message_id] = time.monotonic()
        if draw < self.plan.lost:
            self.lost.add(message_id)
            return
        forms = [success]
        draw -= self.plan.lost
        if draw < self.plan.duplicate:
            forms = [success, success]
        elif draw < self.plan.duplicate + self.plan.out_of_order:
            forms = [success, {**success, "status": "Sent"}]
        at = time.monotonic() + self.plan.delay
        for form in forms:
            self.pending.put((at, form))

    def _run(self) -> None:
        http = requests.Session()
        while (item := self.pending.get()) is not None:
            at, form = item
            try:
                time.sleep(max(0.0, at - time.monotonic()))
                status = http.post(self.plan.url, data=form, timeout=30).status_code
            except requests.RequestException:
                status = 0
            with self._lock:
                self.answers[status] += 1
                self.reported_at.setdefault(form["id"], time.monotonic())
            self.pending.task_done()
        self.pending.task_done()

    def unreported_within(self, seconds: float) -> set[str]:
        """Ids whose first report was not answered within ``seconds`` of taking them."""
        return {i for i, at in self.taken_at.items()
                if self.reported_at.get(i, float("inf")) > at + seconds}

    def drain(self) -> None:
        """Wait until every queued report was posted."""
        self.pending.join()

    def stop(self) -> None:
        for _ in self._threads:
            self.pending.put(None)


class FakeAfricasTalking(FakeProvider):
    """``POST /version1/messaging`` as Africa's Talking answers it."""

    def __init__(self, username: str = "sandbox", api_key: str = "test-key") -> None:
        super().__init__()
        self.username = username
        self.api_key = api_key
        self._ids = itertools.count(1)
        self.reporter: _Reporter | None = None

    def report_to(self, plan: ReportPlan) -> _Reporter:
        """Post a delivery report on every message taken from now on, as ``plan`` says."""
        self.reporter = _Reporter(plan)
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
