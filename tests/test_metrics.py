"""GET /metrics: Prometheus' text format, counters after traffic, and who may read it."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sms_support import AICHA_FR, at_form, sms_demo  # noqa: F401

from tests.ussd_support import Phone

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: FlaskClient, **kwargs: Any) -> Samples:
    """Every sample of a scrape, by name and sorted labels."""
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.data
    assert response.content_type.startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _ussd_count(samples: Samples) -> float:
    key = ("smsgateway_webhook_duration_seconds_count",
           (("kind", "ussd"), ("provider", "africastalking")))
    return samples.get(key, 0.0)


def test_a_scrape_after_traffic_shows_the_counters(
    client: FlaskClient, sms_demo: Any, run_jobs: Any  # noqa: F811
) -> None:
    before = scrape(client)
    phone = Phone(client, AICHA_FR)
    phone.dial()
    phone.press("2")
    assert client.post("/webhooks/africastalking/sms",
                       data=at_form(AICHA_FR, "STOCK")).status_code == 200

    during = scrape(client)
    # Webhook latency is counted per provider and kind (the histogram is process-wide).
    assert _ussd_count(during) - _ussd_count(before) == 2
    sms_key = ("smsgateway_webhook_duration_seconds_count",
               (("kind", "sms"), ("provider", "africastalking")))
    assert during[sms_key] - before.get(sms_key, 0.0) == 1
    # State read from the database and Redis at scrape time.
    assert during[("smsgateway_outbound_messages", (("status", "queued"),))] == 1
    assert during[("smsgateway_inbound_messages", (("status", "processed"),))] == 1
    assert during[("smsgateway_queue_depth", (("queue", "replies"),))] == 1
    assert during[("smsgateway_queue_oldest_job_age_seconds", (("queue", "replies"),))] >= 0
    assert during[("smsgateway_ussd_sessions", ())] == 1
    assert during[("smsgateway_up", (("dependency", "database"),))] == 1

    run_jobs()
    after = scrape(client)
    # The console provider reports its messages delivered at once.
    assert after[("smsgateway_outbound_messages", (("status", "delivered"),))] == 1
    assert after[("smsgateway_queue_depth", (("queue", "replies"),))] == 0


def test_server_errors_are_counted(make_app: Any) -> None:
    app: Flask = make_app()

    @app.get("/test-boom")
    def boom() -> str:
        raise RuntimeError("boom")

    client = app.test_client()
    key = ("smsgateway_http_server_errors_total", (("endpoint", "boom"),))
    before = scrape(client).get(key, 0.0)
    assert client.get("/test-boom").status_code == 500
    assert scrape(client)[key] - before == 1


def test_a_scrape_with_redis_down_answers_and_says_so(make_app: Any) -> None:
    app = make_app(redis_url="redis://127.0.0.1:9/0")
    samples = scrape(app.test_client())
    assert samples[("smsgateway_up", (("dependency", "redis"),))] == 0
    assert samples[("smsgateway_up", (("dependency", "database"),))] == 1


@pytest.mark.parametrize(("environ", "headers", "status"), [
    ({}, {}, 200),
    ({"REMOTE_ADDR": "203.0.113.9"}, {}, 404),
    ({}, {"X-Forwarded-For": "203.0.113.9"}, 404),
], ids=["loopback", "remote", "through-a-proxy"])
def test_without_a_token_only_local_scrapers(
    client: FlaskClient, environ: dict[str, str], headers: dict[str, str], status: int
) -> None:
    response = client.get("/metrics", environ_base=environ, headers=headers)
    assert response.status_code == status


@pytest.mark.parametrize(("authorization", "status"), [
    (None, 404),
    ("Bearer wrong", 404),
    ("Bearer s3cret-token", 200),
], ids=["none", "wrong", "right"])
def test_with_a_token_anyone_who_has_it(
    make_app: Any, authorization: str | None, status: int
) -> None:
    client = make_app(metrics={"token": "s3cret-token"}).test_client()
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers,
                          environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == status
