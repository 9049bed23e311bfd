"""The dashboard in French (by default), Arabic (right to left) and English."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from dashboard_support import login as _login
from dashboard_support import post as _post
from dashboard_support import token as _token
from flask.testing import FlaskClient

from menus.languages import LANGUAGES
from smsgateway.dashboard import i18n
from smsgateway.models import (
    BroadcastStatus,
    Channel,
    ChannelState,
    MovementReason,
    OrderStatus,
    OutboundStatus,
    Role,
)

TEMPLATES = Path(i18n.__file__).parents[1] / "templates" / "dashboard"
PYTHON = Path(i18n.__file__).parent


def test_every_key_the_pages_use_is_in_the_catalog_in_every_language() -> None:
    used: set[str] = set()
    for path in [*TEMPLATES.glob("*.html"), *PYTHON.glob("*.py")]:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_]+)["']\s*[,)]""", path.read_text()))
    assert used, "no t() call found"
    missing = sorted(used - set(i18n.catalog()))
    assert not missing, missing
    # Keys built from a value: every value has its text.
    used |= {f"lang_{code}" for code in LANGUAGES} | {f"role_{role}" for role in Role}
    used |= {f"status_{status}" for status in [*BroadcastStatus, *OutboundStatus]}
    used |= {f"orderstatus_{status}" for status in OrderStatus}
    used |= {f"movement_{reason}" for reason in MovementReason}
    used |= {f"channel_{channel}" for channel in Channel}
    used |= {f"chstate_{state}" for state in ChannelState}
    # The import's reasons: Rejected("phone_bad") is import_why_phone_bad.
    source = (PYTHON.parent / "cli" / "members_import.py").read_text()
    used |= {f"import_why_{k}" for k in re.findall(r'Rejected\("([a-z_]+)"', source)}
    used |= {f"import_warn_{k}" for k in re.findall(r'_warning\("([a-z_]+)"', source)}
    assert any(k.startswith("import_warn_") for k in used)
    missing = sorted(used - set(i18n.catalog()))
    assert not missing, missing
    keys = re.findall(r"^([a-z0-9_]+):", i18n.CATALOG_PATH.read_text(), re.M)
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    for key, texts in i18n.catalog().items():
        assert all(texts[lang].strip() for lang in i18n.LANGUAGES), key


def test_french_by_default(client: FlaskClient, demo: Any) -> None:
    page = client.get("/dashboard/login").get_data(as_text=True)
    assert '<html lang="fr" dir="ltr">' in page and "Connexion coordinatrice" in page


@pytest.mark.parametrize(
    ("lang", "direction", "heading", "stock"),
    [("ar", "rtl", "المخزون", "120 l"), ("en", "ltr", "Stock", "120 l"),
     ("fr", "ltr", "Stock", "120 l")],
)
def test_she_picks_a_language_and_it_is_kept(
    client: FlaskClient, demo: Any, lang: str, direction: str, heading: str, stock: str
) -> None:
    _login(client)
    page = _post(client, "/dashboard/language", lang=lang, next="/dashboard")
    assert f'<html lang="{lang}" dir="{direction}">' in page
    assert f"<h2>{heading}</h2>" in page and f'id="stock-ARGAN">{stock}' in page
    # Kept on the next page, and after signing out and in again.
    assert f'dir="{direction}"' in client.get("/dashboard").get_data(as_text=True)
    _post(client, "/dashboard/logout")
    assert f'dir="{direction}"' in client.get("/dashboard/login").get_data(as_text=True)
    _login(client)
    assert f'dir="{direction}"' in client.get("/dashboard").get_data(as_text=True)


def test_arabic_money_flash_and_sign_in_errors(client: FlaskClient, demo: Any) -> None:
    client.post("/dashboard/language", data={"lang": "ar", "next": "/dashboard/login",
                                              "csrf_token": _token(client)})
    response = _login(client, password="wrong-password")
    assert "الرقم أو كلمة المرور غير صحيحة." in response.get_data(as_text=True)
    _login(client)
    page = client.get("/dashboard").get_data(as_text=True)
    assert "3500 درهم" in page  # the demo order's total, in the one money formatter


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/dashboard",
                                    "/dashboard/\\evil", "/simulator"])
def test_the_language_switch_never_sends_her_elsewhere(
    signed_in: FlaskClient, target: str
) -> None:
    response = signed_in.post("/dashboard/language", data={
        "lang": "en", "next": target, "csrf_token": _token(signed_in, "/dashboard")})
    assert response.status_code == 302 and response.location.endswith("/dashboard")


def test_an_unknown_language_changes_nothing(signed_in: FlaskClient) -> None:
    page = _post(signed_in, "/dashboard/language", lang="xx", next="/dashboard")
    assert 'lang="fr"' in page


def test_the_language_switch_needs_its_csrf_token(
    signed_in: FlaskClient,
) -> None:
    assert signed_in.post("/dashboard/language", data={"lang": "ar"}).status_code == 400
