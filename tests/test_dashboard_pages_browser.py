"""The dashboard in Debian's Chromium, in French and in Arabic, at 1280 px and at 360 px.

Against a real gateway (gunicorn, an RQ worker, the console provider): sign in, import
members, accept a join request, send a member a PIN code, compose an alert whose counter
matches the server's count, send it and watch it complete, watch a vote come in live,
accept a delivery. On every page: nothing wider than the screen, right to left in Arabic,
no request to any other host, and under 150 KB. Screenshots of the main pages go to
docs/screenshots/ with UPDATE_SCREENSHOT=1.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from simulator_support import chromium_page, live_gateway  # noqa: F401
from sqlalchemy import select
from sqlalchemy.orm import Session

from menus.encoding import fold_to_gsm7, measure
from smsgateway.models import Channel, Member, Product, Resolution
from smsgateway.seed import DEMO_PASSWORD
from smsgateway.services.deliveries import record_delivery
from smsgateway.services.joins import request_join
from smsgateway.services.votes import cast_vote

SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PAGE_BUDGET = 150 * 1024
FRENCH = "Réunion générale samedi à 10h à la coopérative : venez nombreuses !"
ARABIC = "اجتماع عام يوم السبت على الساعة العاشرة في التعاونية، المرجو الحضور."
#: Texts the page's counter and menus.encoding must count alike.
COUNTED = [
    "", "a", "x" * 160, "x" * 161, "x" * 306, "x" * 307, "€" * 80, "€" * 81, "a" + "€" * 80,
    "ب" * 70, "ب" * 71, "ب" * 134, "ب" * 135, "\U0001f30a" * 35, "\U0001f30a" * 36,
    "a" * 66 + "\U0001f30a" * 3, FRENCH, ARABIC, "Ça coûte 12€ [promo] {name}~|^\\",
    "œuvre « élan » — très bien…", "ligne 1\nligne 2\r\n", "Tafraout ⵜⴰⴼⵔⴰⵡⵜ",
]
CSV = ("phone,name,language,role,groups\n0612345678,Zahra Ait Ali,ar,,Tafraout\n"
       "123,Bad number,fr,,\n0612345679,Hanane,fr,,amlou\n")

LAYOUT_JS = """() => {
  const width = document.documentElement.clientWidth, wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.right > width + 1 || r.left < -1))
      wide.push(`${el.tagName}#${el.id} ${Math.round(r.left)}..${Math.round(r.right)}`);
  }
  return {scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 8),
          dir: document.documentElement.dir, lang: document.documentElement.lang};
}"""


class Visit:
    """The browser page, and what it checks on every page it lands on."""

    def __init__(self, page: Any, base: str, lang: str, width: int, scratch: Path) -> None:
        self.page, self.base, self.lang, self.width = page, base, lang, width
        self.scratch = scratch
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.bytes = 0
        page.on("request", lambda r: self.requests.append(r.url))
        # A script error or a blocked resource (the Content-Security-Policy) fails the test.
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("response", self._count)

    def _count(self, response: Any) -> None:
        try:
            self.bytes += len(response.body())
        except Exception:  # noqa: BLE001 - a redirect has no body
            pass

    def check(self, name: str) -> None:
        """Layout, direction, hosts and weight of the page shown; a screenshot of it."""
        self.page.wait_for_load_state("load")
        layout = self.page.evaluate(LAYOUT_JS)
        assert layout["scroll"] <= layout["width"], (name, layout)
        assert not layout["wide"], (name, layout)
        assert layout["lang"] == self.lang
        assert layout["dir"] == ("rtl" if self.lang == "ar" else "ltr")
        strangers = [u for u in self.requests if not u.startswith(self.base)]
        assert not strangers, strangers
        assert self.bytes < PAGE_BUDGET, (name, self.bytes)
        assert not self.errors, (name, self.errors)
        # The shots in docs/ are retaken on demand (UPDATE_SCREENSHOT=1), as the simulator's
        # are: a plain test run leaves the work tree as it found it.
        shots = SHOTS if os.environ.get("UPDATE_SCREENSHOT") else self.scratch
        shots.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(shots / f"{name}-{self.lang}-{self.width}.png"),
                             full_page=True)

    def goto(self, path: str) -> None:
        """Open a dashboard page, counting only its own weight."""
        self.bytes = 0
        self.page.goto(self.base + path)


@pytest.mark.slow
@pytest.mark.parametrize(("lang", "width"),
                         [("fr", 1280), ("fr", 360), ("ar", 1280), ("ar", 360)])
def test_a_coordinators_morning_in_the_browser(
    live_gateway: Any, chromium_page: Any, session: Session, demo: Any,  # noqa: F811
    tmp_path: Path, lang: str, width: int,
) -> None:
    from playwright.sync_api import expect

    khadija = session.scalar(select(Member).where(Member.phone == "+212600000002"))
    amlou = session.scalar(select(Product).where(Product.code == "AMLOU"))
    delivery = record_delivery(session, khadija, amlou, Decimal("5"), Channel.USSD)
    join, _ = request_join(session, demo, "0677777777", Channel.USSD, "MA")
    long_name = session.scalar(select(Member).where(Member.phone == "+212600000004"))
    # A hostile, unbreakable name, as long as a name may be (200 characters).
    long_name.name = "<b>Aicha</b> " + "ء" * 187
    session.commit()
    gateway = live_gateway(SMSGATEWAY__PRICES__CONSOLE="0.25")
    page = chromium_page
    page.set_viewport_size({"width": width, "height": 800})
    visit = Visit(page, gateway.url, lang, width, tmp_path / "shots")

    visit.goto("/dashboard/login")
    if lang == "ar":
        page.click("button[lang=ar]")
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
    page.fill("input[name=phone]", "06 00 00 00 01")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator("#stock-ARGAN")).to_be_visible()
    visit.check("home")

    # Members: import a file, see the rejected line, accept the join request, send a code.
    visit.goto("/dashboard/members")
    csv_path = tmp_path / "members.csv"
    csv_path.write_text(CSV, encoding="utf-8")
    page.set_input_files("input[type=file]", str(csv_path))
    page.click("form[enctype] button[type=submit]")
    expect(page.locator("#import-summary")).to_contain_text("2")
    expect(page.locator("#rejected li")).to_have_count(1)
    visit.check("members-import")
    visit.goto("/dashboard/members")
    page.fill(f"#join-{join.id} input[name=name]", "Naima")
    page.locator(f"#join-{join.id} button.accept").click()
    expect(page.locator(".flash.ok")).to_contain_text("+212677777777")
    row = page.locator("#members tr", has_text="Hanane")
    row.locator("button.issue-code").click()
    expect(page.locator(".flash.ok")).to_contain_text("Hanane")
    expect(page.locator("#members tr", has_text="Hanane").locator("td.pin")).to_have_attribute(
        "data-state", "code")
    visit.check("members")

    # Alerts: the counter counts as the server does, for these texts and every tricky one.
    visit.goto("/dashboard/alerts/new")
    for text in COUNTED:
        for fold in (False, True):
            got = page.evaluate("([t, f]) => window.smsCounter.measure("
                                "f ? window.smsCounter.fold(t) : t)", [text, fold])
            want = measure(fold_to_gsm7(text) if fold else text)
            assert (got["encoding"], got["length"], got["segments"]) == (
                want.encoding, want.length, want.segments), (text, fold, got)
    page.fill("#text-fr", FRENCH)
    page.fill("#text-ar", ARABIC)
    page.check("input[name=mode][value=urgent]")
    french, arabic = measure(FRENCH.strip()), measure(ARABIC.strip())
    # 6 members now: 5 read French (fr, zgh and the French import), 2 Arabic (+ Naima's fr).
    expect(page.locator("#count-fr")).to_have_attribute("data-segments", str(french.segments))
    expect(page.locator("#count-fr")).to_have_attribute("data-encoding", "GSM-7" if
                                                        french.encoding == "GSM-7" else "UCS-2")
    expect(page.locator("#count-ar")).to_have_attribute("data-segments", str(arabic.segments))
    expect(page.locator("#count-ar")).to_have_attribute("data-encoding", "UCS-2")
    expect(page.locator("#count-total")).to_have_attribute("data-members", "7")
    fr_cost = Decimal("0.25") * french.segments * 5
    ar_cost = Decimal("0.25") * arabic.segments * 2
    decimal = "," if lang in ("fr", "ar") else "."
    expect(page.locator("#count-fr")).to_contain_text(
        format(fr_cost.normalize(), "f").replace(".", decimal))
    expect(page.locator("#count-ar")).to_contain_text(
        format(ar_cost.normalize(), "f").replace(".", decimal))
    visit.check("alert-compose")
    page.click("#compose button[type=submit]")
    expect(page.locator("#plan-fr")).to_have_attribute("data-segments", str(french.segments))
    expect(page.locator("#plan-ar")).to_have_attribute("data-segments", str(arabic.segments))
    expect(page.locator("#confirm")).to_have_attribute("data-recipients", "7")
    visit.check("alert-confirm")
    page.click("#send")
    expect(page.locator("#progress")).to_have_attribute("data-status", "done", timeout=60_000)
    expect(page.locator("#n-delivered")).to_have_text("7")
    expect(page.locator("#n-waiting")).to_have_text("0")
    visit.check("alert-progress")
    visit.goto("/dashboard/alerts")
    visit.check("alerts")

    # Votes: a member votes by USSD while the page is open; the page follows without a reload.
    resolution = session.scalar(select(Resolution).where(Resolution.cooperative_id == demo.id))
    visit.goto("/dashboard/votes")
    box = page.locator(f"#resolution-{resolution.id}")
    expect(box.locator('[data-choice="0"] [data-count]')).to_have_text("0")
    cast_vote(session, khadija, resolution, 0, Channel.USSD)
    session.commit()
    expect(box.locator('[data-choice="0"] [data-count]')).to_have_text("1", timeout=20_000)
    visit.check("votes")

    for path, name in (("/dashboard/products", "products"), ("/dashboard/orders", "orders"),
                       ("/dashboard/audit", "audit"),
                       ("/dashboard/channels", "channels")):
        visit.goto(path)
        visit.check(name)

    # Home: accept Khadija's delivery.
    visit.goto("/dashboard")
    page.locator(f"#delivery-{delivery.id} button.accept").click()
    expect(page.locator(".flash.ok")).to_contain_text(str(delivery.id))
    visit.check("home-after")
