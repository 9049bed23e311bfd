"""Signing in to the dashboard and posting its forms, for the dashboard's tests."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from smsgateway.seed import DEMO_COORDINATOR, DEMO_PASSWORD

TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def token(client: FlaskClient, path: str = "/dashboard/login") -> str:
    """The CSRF token of the form on ``path``."""
    match = TOKEN_RE.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: FlaskClient, phone: str = DEMO_COORDINATOR,
          password: str = DEMO_PASSWORD) -> Any:
    """Post the sign-in form."""
    return client.post("/dashboard/login", data={
        "phone": phone, "password": password, "csrf_token": token(client)})


@pytest.fixture
def signed_in(client: FlaskClient, demo: Any) -> FlaskClient:
    """The demo coordinator, signed in."""
    response = login(client)
    assert response.status_code == 302 and response.location.endswith("/dashboard")
    return client


def post(client: FlaskClient, path: str, **form: str) -> str:
    """Post a dashboard form with its token; the page it leads to."""
    form["csrf_token"] = token(client, "/dashboard")
    response = client.post(path, data=form, follow_redirects=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)
