"""What the kiosk page tests share: Chromium, axe-core, the layout check, synthetic data."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from protocol.elements import DataElement
from simulators.personas import PERSONAS

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).parents[2]
SCREENS = ROOT / "build" / "screens"
VOICE = ROOT / "build" / "voice"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",  # as the kiosk launcher starts it
]
SIZES = {
    "800x480": (800, 480),
    "1024x600": (1024, 600),
    "1280x800": (1280, 800),
    "600x1024": (600, 1024),
}
KIOSK_ID = "KIOSK-SIM-0001"
HELP = "Loket layanan lantai 1, tel. 021-555-0100"

AYU = PERSONAS["ayu"]
SECRETS = (AYU.nik, AYU.full_name, AYU.birth_place, AYU.address, AYU.kk_number)
ELEMENTS = {
    DataElement.NIK: AYU.nik,
    DataElement.FULL_NAME: AYU.full_name,
    DataElement.SEX: "PEREMPUAN",
    DataElement.BIRTH_PLACE: AYU.birth_place,
    DataElement.BIRTH_DATE: AYU.birth_date.strftime("%d-%m-%Y"),
    DataElement.ADDRESS: AYU.address,
    DataElement.RT: AYU.rt,
    DataElement.RW: AYU.rw,
}
ALL_ELEMENTS = {
    **ELEMENTS,
    DataElement.KK_NUMBER: AYU.kk_number,
    DataElement.OCCUPATION: AYU.occupation,
    DataElement.MARITAL_STATUS: AYU.marital_status,
    DataElement.PROVINCE_NAME: AYU.province,
    DataElement.REGENCY_NAME: AYU.regency,
    DataElement.DISTRICT_NAME: AYU.district,
    DataElement.VILLAGE_NAME: AYU.village,
    DataElement.DISTRICT_CODE: AYU.district_code,
}

needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"{CHROMIUM} is missing: install Debian's chromium (scripts/install-debian-packages.sh)",
)


def axe_script() -> Path:
    """axe-core as the test extra installs it (axe-playwright-python ships axe-core's build)."""
    return Path(str(resources.files("axe_playwright_python") / "axe.min.js"))


async def axe_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations of the page as it stands."""
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.add_script_tag(path=str(axe_script()))
    results = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']}: {[n['target'] for n in v['nodes']]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


# Every visible button inside the viewport and at least 48 px; nothing scrolls; no text runs
# past its box or off the screen.
LAYOUT_JS = """
() => {
  const vw = window.innerWidth, vh = window.innerHeight, out = [];
  const doc = document.scrollingElement;
  if (doc.scrollHeight > vh + 1 || doc.scrollWidth > vw + 1)
    out.push(`page scrolls: ${doc.scrollWidth}x${doc.scrollHeight}`);
  const main = document.querySelector("main");
  if (main.scrollHeight > main.clientHeight + 1) out.push(`main scrolls: ${main.scrollHeight}`);
  const visible = (el) => el.offsetParent !== null || getComputedStyle(el).position === "fixed";
  const name = (el) => el.id || el.dataset.t || el.tagName;
  for (const b of document.querySelectorAll("button")) {
    if (!visible(b)) continue;
    const r = b.getBoundingClientRect();
    if (r.left < -0.5 || r.top < -0.5 || r.right > vw + 0.5 || r.bottom > vh + 0.5)
      out.push(`button ${name(b)} outside the viewport: ${JSON.stringify(r)}`);
    if (r.width < 48 || r.height < 48)
      out.push(`button ${name(b)} too small: ${r.width}x${r.height}`);
  }
  for (const el of document.querySelectorAll("h1, p, li, dt, dd, button, .brand, .foot span")) {
    if (!visible(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.left < -0.5 || r.top < -0.5 || r.right > vw + 0.5 || r.bottom > vh + 0.5)
      out.push(`text ${name(el)} off the screen: ${JSON.stringify(r)}`);
    if (getComputedStyle(el).display !== "inline" &&
        (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1))
      out.push(`text ${name(el)} cut: ${el.scrollWidth}x${el.scrollHeight}` +
               ` in ${el.clientWidth}x${el.clientHeight}`);
  }
  return out;
}
"""

# The focusable controls in Tab order, and the same controls in reading order (top, then left).
FOCUS_JS = """
() => {
  const shown = [...document.querySelectorAll("button")].filter((b) => b.offsetParent !== null);
  const reading = [...shown].sort((a, b) => {
    const ra = a.getBoundingClientRect(), rb = b.getBoundingClientRect();
    return Math.abs(ra.top - rb.top) > 8 ? ra.top - rb.top : ra.left - rb.left;
  });
  return reading.map((b) => b.id);
}
"""


async def tab_order(page: Any, count: int) -> list[str]:
    """The ids of the controls that Tab reaches, from the top of the page."""
    await page.mouse.click(2, 2)  # a touch on the header: Tab starts from the top of the page
    seen: list[str] = []
    for _ in range(count):
        await page.keyboard.press("Tab")
        seen.append(await page.evaluate("document.activeElement ? document.activeElement.id : ''"))
    return seen
