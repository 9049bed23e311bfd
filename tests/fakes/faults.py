"""Faults a fake provider can be told to meet, and the delivery reports it posts back.

``FaultPlan``: a share of requests meet latency, a 5xx, a 429, a dropped connection, or a
timeout or a drop *after* the fake took the request (its phones got it). ``ReportPlan``: where
Africa's Talking's fake posts delivery reports, with duplicates, out-of-order pairs and losses.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

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


class Reporter:
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
