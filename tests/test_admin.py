"""/admin/rq: the operators' queue view behind ADMIN_PASSWORD (HTTP basic auth)."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from smsgateway.queues import BULK, REPLIES, get_queue

PASSWORD = "operator-pass-1"


def basic(password: str, user: str = "ops") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def admin_app(make_app: Any) -> Flask:
    return make_app(admin={"password": PASSWORD})


def test_without_admin_password_the_page_does_not_exist(client: FlaskClient) -> None:
    assert client.get("/admin/rq").status_code == 404
    assert client.get("/admin/rq", headers=basic("")).status_code == 404


@pytest.mark.parametrize("headers", [{}, basic("wrong"), {"Authorization": "Bearer x"}],
                         ids=["none", "wrong-password", "not-basic"])
def test_without_the_password_401(admin_app: Flask, headers: dict[str, str]) -> None:
    response = admin_app.test_client().get("/admin/rq", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def _failed_job(app: Flask, queue: str = REPLIES) -> str:
    with app.app_context():
        job = get_queue(queue).enqueue("math.sqrt", -1)  # fails: math domain error
    from smsgateway.worker import run_burst

    run_burst(app)
    return job.id


def test_with_the_password_the_queues_and_their_failures(admin_app: Flask) -> None:
    failed = _failed_job(admin_app)
    with admin_app.app_context():
        get_queue(BULK).enqueue("smsgateway.sending.send_messages", [1])  # waiting, not run
    response = admin_app.test_client().get("/admin/rq", headers=basic(PASSWORD))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    # In the order workers serve them.
    assert page.index(">replies<") < page.index(">urgent<") < page.index(">bulk<")
    assert failed in page
    assert "ValueError: math domain error" in page  # the error's last line


def _csrf(client: FlaskClient) -> str:
    page = client.get("/admin/rq", headers=basic(PASSWORD)).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_requeue_and_delete_need_the_csrf_token(admin_app: Flask) -> None:
    failed = _failed_job(admin_app)
    client = admin_app.test_client()
    url = f"/admin/rq/{REPLIES}/failed/{failed}/requeue"
    assert client.post(url, headers=basic(PASSWORD)).status_code == 400
    assert client.post(url, data={"csrf_token": "forged"},
                       headers=basic(PASSWORD)).status_code == 400
    queue = get_queue(REPLIES, admin_app)
    assert failed in queue.failed_job_registry.get_job_ids()

    token = _csrf(client)
    response = client.post(url, data={"csrf_token": token}, headers=basic(PASSWORD))
    assert response.status_code == 302
    assert failed not in queue.failed_job_registry.get_job_ids()
    assert queue.get_job_ids() == [failed]


def test_delete_a_failed_job(admin_app: Flask) -> None:
    failed = _failed_job(admin_app)
    client = admin_app.test_client()
    token = _csrf(client)
    url = f"/admin/rq/{REPLIES}/failed/{failed}/delete"
    assert client.post(url, data={"csrf_token": token}).status_code == 401
    assert client.post(url, data={"csrf_token": token}, headers=basic(PASSWORD)
                       ).status_code == 302
    queue = get_queue(REPLIES, admin_app)
    assert queue.failed_job_registry.get_job_ids() == []
    assert queue.fetch_job(failed) is None
    # A job that is not in the failed registry cannot be acted on.
    assert client.post(url, data={"csrf_token": token}, headers=basic(PASSWORD)
                       ).status_code == 404


def test_check_config_hides_the_admin_password_and_the_metrics_token(
    runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMIN_PASSWORD", PASSWORD)
    monkeypatch.setenv("METRICS_TOKEN", "scrape-token-9")
    result = runner.invoke(args=["check-config"])
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output and "scrape-token-9" not in result.output
    assert '"password": "***"' in result.output and '"token": "***"' in result.output
