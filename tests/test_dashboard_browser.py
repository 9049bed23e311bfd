"""The dashboard in Debian's Chromium against a real gateway: sign in, confirm the demo order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from simulator_support import chromium_page, live_gateway  # noqa: F401

from smsgateway.seed import DEMO_COORDINATOR, DEMO_PASSWORD


@pytest.mark.slow
def test_coordinator_signs_in_and_confirms_an_order(
    live_gateway: Any, chromium_page: Any, tmp_path: Path  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    gateway = live_gateway()
    page = chromium_page
    page.goto(gateway.url + "/")
    expect(page.locator("h1")).to_have_text("Connexion coordinatrice")
    page.fill("input[name=phone]", "06 00 00 00 01")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator("#stock-ARGAN")).to_have_text("120 l")
    assert DEMO_COORDINATOR not in page.url
    page.locator("tr[id^=order-] button.confirm").click()
    expect(page.locator(".flash.ok")).to_contain_text("confirmée")
    expect(page.locator("#stock-ARGAN")).to_have_text("110 l")
    expect(page.locator("text=Aucune commande en attente.")).to_be_visible()
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert (tmp_path / "dashboard.png").read_bytes().startswith(b"\x89PNG")
