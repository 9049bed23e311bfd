"""GET /healthz (the process answers) and GET /readyz (database, Redis, queues, channel)."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from smsgateway.config import SmsSettings
from smsgateway.jobs import enqueue_reply_turns
from smsgateway.redisconn import get_redis, get_redis_handle


def test_healthz_touches_neither_database_nor_redis(make_app: Any) -> None:
    app = make_app(redis_url=f"redis://127.0.0.1:{_closed_port()}/0",
                   database_url=f"postgresql+psycopg://nobody@127.0.0.1:{_closed_port()}/x")
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready_reports_what_is_in_use(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["problems"] == []
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert body["queues"]["ok"] and body["queues"]["replies"]["depth"] == 0
    assert body["channels"] == {"ok": True, "sms": "console", "records": []}
    assert body["database"]["kind"] in {"embedded", "server"}
    assert body["redis"]["kind"] == "server"  # the suite passes a URL


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_redis_down_is_503(make_app: Any) -> None:
    app = make_app(redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["redis"]["ok"] is False and body["database"]["ok"] is True
    assert body["problems"] == ["redis", "queues"]


def test_database_down_is_503(make_app: Any, tmp_path: Path) -> None:
    app = make_app(database_url=f"postgresql+psycopg://nobody@127.0.0.1:{_closed_port()}/x")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["database"]["ok"] is False
    assert response.get_json()["problems"] == ["database"]


def test_a_reply_waiting_too_long_is_503(make_app: Any) -> None:
    app = make_app(readiness={"max_queue_lag_seconds": 1})
    with app.app_context():
        # A phone's turn in the replies queue that no worker takes.
        assert enqueue_reply_turns(get_redis(), ["+212600000099"]) == 1
    deadline = time.monotonic() + 30
    while True:  # the job ages with the clock: wait for it to pass the limit
        response = app.test_client().get("/readyz")
        if response.status_code == 503 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert response.status_code == 503
    body = response.get_json()
    assert body["problems"] == ["queues"]
    assert body["queues"]["replies"]["lagging"] is True
    assert body["queues"]["replies"]["depth"] == 1


def test_a_provider_without_credentials_is_503(make_app: Any) -> None:
    app = make_app()
    # Chosen at start with credentials; the adapter is then built without them (a bad deploy).
    app.config["SETTINGS"] = app.config["SETTINGS"].model_copy(
        update={"sms": SmsSettings(provider="twilio")})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["channels"]["ok"] is False and body["channels"]["sms"] == "twilio"
    assert "TWILIO_AUTH_TOKEN" in body["channels"]["error"]


def test_embedded_redis_is_shared_by_apps_on_one_instance_folder(
    make_app: Any, tmp_path: Path
) -> None:
    instance = str(tmp_path / "shared-instance")
    web = make_app(redis_url=None, instance_path=instance)
    worker = make_app(redis_url=None, instance_path=instance)
    body = web.test_client().get("/readyz").get_json()
    assert body["redis"] == {"kind": "embedded", "ok": True}
    get_redis_handle(web).client.set("handshake", "from-web")
    assert get_redis_handle(worker).client.get("handshake") == b"from-web"
    assert (Path(instance) / "redis.rdb.settings").exists()


def test_huge_body_is_refused_not_crashed(client: FlaskClient) -> None:
    # To a route that takes POST: only the size limit stands between this body and the view.
    # 1 MiB in 512 fields of 2 KiB: under Werkzeug's own per-field and field-count limits.
    body = "&".join(f"f{i}={'x' * 2048}" for i in range(512))
    response = client.post("/webhooks/africastalking/sms", data=body,
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
