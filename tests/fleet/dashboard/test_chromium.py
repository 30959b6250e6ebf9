"""The dashboard in headless Chromium (Debian's) through Playwright: every page photographed into
build/screens/fleet-*.png, checked with axe-core (no serious or critical violation), loaded
under the page's own Content-Security-Policy, and free of anything NIK-shaped."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from fleet.dashboard import DashboardRunner, serve_dashboard
from fleet.store.base import FleetStore
from protocol.nik import NIK_IN_TEXT
from tests.clock import FakeClock
from tests.fleet.dashboard import synthetic

CHROMIUM = "/usr/bin/chromium"
SCREENS = Path(__file__).parents[3] / "build" / "screens"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"{CHROMIUM} is missing: install Debian's chromium (scripts/install-debian-packages.sh)",
)

if os.access(CHROMIUM, os.X_OK):
    from playwright.async_api import Browser, Page, async_playwright

    AXE_JS = resources.files("axe_playwright_python") / "axe.min.js"  # the test extra's axe-core

PAGES = (
    ("fleet", "/", "Armada kios"),
    ("fleet-filtered", "/?institution=dukcapil-smg&state=tampered", "KIOSK-SIM-0005"),
    ("kiosk", "/kiosk/KIOSK-SIM-0001", "Pemakaian per hari"),
    ("kiosk-tampered", "/kiosk/KIOSK-SIM-0005", "Gangguan fisik"),
    ("alerts", "/alerts", "Peringatan terbuka"),
    ("sanctions", "/sanctions", "Sanksi yang berlaku"),
    ("not-found", "/kiosk/KIOSK-SIM-9999", "Kios tidak ditemukan"),
    ("bad-filter", "/?region=3x", "region"),
)


@pytest.fixture
async def served(store: FleetStore) -> AsyncIterator[DashboardRunner]:
    running = await serve_dashboard(
        store, ("127.0.0.1", 0), clock=FakeClock(wall=float(synthetic.NOW))
    )
    yield running
    await running.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    SCREENS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        await chromium.close()


async def _axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations of the page."""
    await page.add_script_tag(path=str(AXE_JS))
    results = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [v for v in results["violations"] if v["impact"] in ("serious", "critical")]


async def test_every_page_renders_is_accessible_and_holds_no_nik(
    served: DashboardRunner, browser: Browser
) -> None:
    strict = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await strict.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    for name, path, expected in PAGES:
        answer = await page.goto(served.url.rstrip("/") + path)
        assert answer is not None
        assert expected in await page.inner_text("main"), name
        assert await page.evaluate("document.documentElement.lang") == "id"
        assert await page.evaluate("getComputedStyle(document.body).marginTop") == "0px"  # CSS on
        await page.screenshot(path=str(SCREENS / f"fleet-{name}.png"), full_page=True)
        html = await page.content()
        assert NIK_IN_TEXT.search(html) is None, name
    # the error pages answer 404 and 400 (the browser says so); nothing else fails, nothing
    # is refused by the Content-Security-Policy
    assert [p for p in problems if not p.startswith("Failed to load resource")] == []
    assert sorted(u.removeprefix(served.url) for u in failed) == [
        "?region=3x",
        "kiosk/KIOSK-SIM-9999",
    ]
    assert all(url.startswith(served.url) for url in requests)  # nothing from elsewhere
    await strict.close()

    # axe-core is injected as a script: a context that ignores the page's CSP lets it in
    audit = await browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=True)
    page = await audit.new_page()
    for name, path, _ in PAGES:
        await page.goto(served.url.rstrip("/") + path)
        assert await _axe(page) == [], name
    await audit.close()


async def test_the_filter_form_and_links_work_without_scripts(
    served: DashboardRunner, browser: Browser
) -> None:
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(served.url)
    await page.fill("#f-institution", "perpus-bdg")
    await page.fill("#f-region", "3273")
    await page.select_option("#f-state", "active")
    await page.click("button[type=submit]")
    await page.wait_for_url("**/?institution=perpus-bdg&region=3273&state=active")
    rows = await page.locator("table.fleet tbody tr").all_inner_texts()
    assert [r.split()[0] for r in rows] == ["KIOSK-SIM-0001", "KIOSK-SIM-0002"]
    await page.click("text=KIOSK-SIM-0002")
    await page.wait_for_url("**/kiosk/KIOSK-SIM-0002")
    assert "Pembaca kartu dinonaktifkan" in await page.inner_text("#sanctions + *")
    await context.close()
