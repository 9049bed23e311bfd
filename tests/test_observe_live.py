"""Seen from outside a real deployment: gunicorn and an RQ worker writing JSON logs to files."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from simulator_support import live_gateway  # noqa: F401
from sms_support import AICHA_FR, at_form

REQUEST_ID = "live-request-0001"
#: Upper bound for the reply to go through the queue and the worker (not a speed assertion).
DEADLINE_SECONDS = 60


def _json_lines(text: str) -> list[dict[str, Any]]:
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is JSON: no stray print
    return parsed


@pytest.mark.slow
def test_one_request_id_from_gunicorn_to_the_worker_and_counters_summed(
    live_gateway: Any,  # noqa: F811
) -> None:
    gateway = live_gateway(SMSGATEWAY__CONSOLE__ECHO="false")
    body = urllib.parse.urlencode(at_form(AICHA_FR, "STOCK")).encode()
    request = urllib.request.Request(f"{gateway.url}/webhooks/africastalking/sms", data=body,
                                     headers={"X-Request-ID": REQUEST_ID})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        assert response.headers["X-Request-ID"] == REQUEST_ID

    worker_log = gateway.logs / "worker.log"
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if REQUEST_ID in worker_log.read_text(errors="replace"):
            break
        time.sleep(0.2)
    worker = _json_lines(worker_log.read_text())
    jobs = [line for line in worker if line["request_id"] == REQUEST_ID]
    assert jobs, gateway.output()
    assert any("Job OK" in line["message"] for line in jobs), jobs

    with urllib.request.urlopen(f"{gateway.url}/metrics", timeout=30) as response:
        text = response.read().decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("smsgateway_webhook_duration_seconds_count",
                    (("kind", "sms"), ("provider", "africastalking")))] == 1
    assert samples[("smsgateway_inbound_messages", (("status", "processed"),))] == 1

    web = _json_lines((gateway.logs / "web.log").read_text())
    access = [line for line in web if line["logger"] == "gunicorn.access"
              and "/webhooks/africastalking/sms" in line["message"]]
    assert [line["request_id"] for line in access] == [REQUEST_ID]
    everything = json.dumps(web + worker)
    assert AICHA_FR not in everything
