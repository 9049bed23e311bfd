"""GET /healthz."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from smsgateway.redisconn import get_redis_handle


def test_healthy_reports_what_is_in_use(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert body["database"]["kind"] in {"embedded", "server"}
    assert body["redis"]["kind"] == "server"  # the suite passes a URL


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_redis_down_is_503(make_app: Any) -> None:
    app = make_app(redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["redis"]["ok"] is False and body["database"]["ok"] is True


def test_database_down_is_503(make_app: Any, tmp_path: Path) -> None:
    app = make_app(database_url=f"postgresql+psycopg://nobody@127.0.0.1:{_closed_port()}/x")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"]["ok"] is False


def test_embedded_redis_is_shared_by_apps_on_one_instance_folder(
    make_app: Any, tmp_path: Path
) -> None:
    instance = str(tmp_path / "shared-instance")
    web = make_app(redis_url=None, instance_path=instance)
    worker = make_app(redis_url=None, instance_path=instance)
    body = web.test_client().get("/healthz").get_json()
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
