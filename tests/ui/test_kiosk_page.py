"""The kiosk page in headless Chromium (Debian's), driven by Playwright, against a real session.

Every screen is photographed into build/screens/. The personal data of the result screen must
be gone from the page once the screen ends, and must never appear in any URL the page requests.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge_agent.config import TimeoutsConfig
from edge_agent.session.verification import Session
from edge_agent.ui.server import UiServer
from hardware.card.reader import CardEvent, CardEventKind
from hardware.errors import CardNotAuthenticError
from hardware.fingerprint.packet import MatchResult
from protocol.elements import DataElement
from protocol.messages import ReaderIdentity
from protocol.outcomes import Lang, Outcome
from simulators.personas import PERSONAS
from tests.clock import FakeClock
from tests.edge_agent.fakes import FakeCard, FakeFinger, FakeGatewayPort, card_of

CHROMIUM = "/usr/bin/chromium"
SCREENS = Path(__file__).parents[2] / "build" / "screens"
T = TimeoutsConfig(card_read=10, finger_wait=20, query=25, result_display=8)
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

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"{CHROMIUM} is missing: install Debian's chromium (scripts/install-debian-packages.sh)",
)

if os.access(CHROMIUM, os.X_OK):
    from playwright.async_api import Page, async_playwright


@dataclass
class Kiosk:
    session: Session
    ui: UiServer
    card: FakeCard
    finger: FakeFinger
    gateway: FakeGatewayPort
    clock: FakeClock
    page: Page
    urls: list[str]

    def insert(self) -> None:
        self.session.on_card_event(CardEvent(CardEventKind.INSERTED, "slot"))

    def pull(self) -> None:
        self.session.on_card_event(CardEvent(CardEventKind.REMOVED, "slot"))

    async def on(self, screen: str) -> None:
        await self.page.wait_for_selector(f'body[data-screen="{screen}"]', timeout=5000)

    async def shot(self, name: str) -> None:
        await self.page.screenshot(path=str(SCREENS / f"{name}.png"))

    async def end_result(self) -> None:
        await self.clock.wait_sleeping(T.result_display)
        self.clock.advance(T.result_display)
        await self.on("idle")


@pytest.fixture
async def kiosk() -> AsyncIterator[Kiosk]:
    SCREENS.mkdir(parents=True, exist_ok=True)
    card, finger, gateway, clock = FakeCard(), FakeFinger(), FakeGatewayPort(), FakeClock()
    ui = UiServer("127.0.0.1", 0, language=Lang.ID)
    session = Session(
        card=card,
        finger=finger,
        gateway=gateway,
        reader=ReaderIdentity("RDR-0001", "SAM-0001"),
        timeouts=T,
        clock=clock,
        observers=[ui],
    )
    ui.set_control(session)
    await ui.start()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        urls: list[str] = []
        page.on("request", lambda request: urls.append(request.url))
        page.on("websocket", lambda ws: urls.append(ws.url))
        await page.goto(ui.url)
        kiosk = Kiosk(session, ui, card, finger, gateway, clock, page, urls)
        await kiosk.on("idle")
        try:
            yield kiosk
        finally:
            card.release()
            finger.release()
            gateway.release.set()
            await session.close()
            await browser.close()
            await ui.stop()


async def _no_secrets(kiosk: Kiosk) -> None:
    html = await kiosk.page.content()
    text = await kiosk.page.evaluate("document.body.innerText")
    for secret in SECRETS:
        assert secret not in html and secret not in text
        for url in [kiosk.page.url, *kiosk.urls]:
            assert secret not in url
    assert await kiosk.page.evaluate("localStorage.length + sessionStorage.length") == 0


async def test_a_verification_screen_by_screen(kiosk: Kiosk) -> None:
    page = kiosk.page
    assert await page.inner_text("#idle-title") == "Masukkan KTP-el Anda ke pembaca kartu"
    await kiosk.shot("01-idle")

    kiosk.insert()
    await kiosk.on("reading")
    await kiosk.shot("02-reading")

    kiosk.card.feed(card_of(AYU))
    await kiosk.on("finger")
    assert "telunjuk kanan" in await page.inner_text("#finger-title")
    assert await page.inner_text("#finger-tries") == "Sisa percobaan: 3"
    await kiosk.shot("03-finger-right")

    assert await asyncio.to_thread(kiosk.finger.called.wait, 5)
    kiosk.finger.called.clear()
    await page.click("#finger-switch")  # the citizen taps "use left index finger"
    await page.wait_for_selector("#finger-title:has-text('telunjuk kiri')", timeout=5000)
    await kiosk.shot("04-finger-left")

    assert await asyncio.to_thread(kiosk.finger.called.wait, 5)
    kiosk.finger.feed(MatchResult(False, 4))
    await page.wait_for_selector("#finger-problem:not([hidden])", timeout=5000)
    assert await page.inner_text("#finger-tries") == "Sisa percobaan: 2"
    await kiosk.shot("05-finger-mismatch")

    await page.click("#lang")
    await page.wait_for_selector("#finger-title:has-text('left index finger')", timeout=5000)
    await kiosk.shot("06-finger-mismatch-en")
    await page.click("#lang")

    kiosk.gateway.proceed = asyncio.Event()
    kiosk.gateway.answer(Outcome.FOUND, ELEMENTS)
    kiosk.finger.feed(MatchResult(True, 93))
    await kiosk.on("querying")
    await kiosk.shot("07-querying")

    kiosk.gateway.proceed.set()
    await kiosk.on("result")
    assert await page.inner_text("#result-text") == "Data Ditemukan"
    shown = await page.inner_text("#result-elements")
    assert AYU.full_name in shown and AYU.nik in shown and "Nama lengkap" in shown
    button = await page.query_selector("#result-done")
    assert button is not None
    box = await button.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 800  # everything fits on the screen
    await kiosk.shot("08-result-found")

    await page.click("#lang")
    await page.wait_for_selector("#result-text:has-text('Data found')", timeout=5000)
    assert "Full name" in await page.inner_text("#result-elements")
    assert "closes in" in await page.inner_text("#result-closing")
    await kiosk.shot("09-result-found-en")
    assert kiosk.gateway.calls[0].match.finger == "left_index"

    await kiosk.end_result()
    assert await page.inner_text("#idle-title") == "Silakan ambil kartu Anda"
    assert await page.evaluate("document.documentElement.lang") == "id"  # back to the default
    await kiosk.shot("10-idle-take-card")
    await _no_secrets(kiosk)
    assert await page.evaluate("document.getElementById('result-elements').childElementCount") == 0

    kiosk.pull()
    await page.wait_for_selector("#idle-title:has-text('Masukkan KTP-el')", timeout=5000)


async def test_failure_screens_cancel_and_deactivation(kiosk: Kiosk) -> None:
    page = kiosk.page
    outcome = Outcome.FINGER_MISMATCH

    kiosk.finger.feed(MatchResult(False, 1), MatchResult(False, 2), MatchResult(False, 3))
    kiosk.card.feed(card_of(AYU))
    kiosk.insert()
    await kiosk.on("result")
    assert await page.inner_text("#result-text") == outcome.text()
    assert await page.inner_text("#result-hint") == outcome.hint()
    await kiosk.shot("11-result-finger-mismatch")
    await page.click("#result-done")  # closes the result early
    await kiosk.on("idle")
    kiosk.pull()

    kiosk.card.feed(CardNotAuthenticError("mutual authentication failed", 0x6982))
    kiosk.insert()
    await kiosk.on("result")
    assert await page.inner_text("#result-text") == Outcome.CARD_NOT_AUTHENTIC.text()
    await kiosk.shot("12-result-card-not-authentic")
    await kiosk.end_result()
    kiosk.pull()

    kiosk.finger.feed(MatchResult(True, 80))
    kiosk.gateway.answer(Outcome.SERVICE_UNAVAILABLE)
    kiosk.card.feed(card_of(AYU))
    kiosk.insert()
    await kiosk.on("result")
    assert await page.inner_text("#result-text") == Outcome.SERVICE_UNAVAILABLE.text()
    await kiosk.shot("13-result-service-unavailable")
    await kiosk.end_result()
    kiosk.pull()

    kiosk.finger.feed(MatchResult(True, 80))
    kiosk.gateway.answer(Outcome.QUOTA_EXHAUSTED)
    kiosk.card.feed(card_of(AYU))
    kiosk.insert()
    await kiosk.on("result")
    assert await page.inner_text("#result-text") == "Kuota akses hari ini telah habis"
    await kiosk.shot("14-result-quota-exhausted")
    await kiosk.end_result()
    kiosk.pull()

    kiosk.card.feed(card_of(AYU))
    kiosk.insert()
    await kiosk.on("finger")
    await kiosk.clock.wait_sleeping(T.finger_wait)
    kiosk.clock.advance(T.finger_wait)
    await kiosk.on("result")
    assert await page.inner_text("#result-text") == Outcome.TIMEOUT.text()
    await kiosk.shot("15-result-timeout")
    await kiosk.end_result()
    kiosk.pull()

    kiosk.card.feed(card_of(AYU))
    kiosk.insert()
    await kiosk.on("finger")
    await page.click("#finger-cancel")
    await kiosk.on("idle")
    assert kiosk.session.counter.get(Outcome.CANCELLED) == 1
    kiosk.pull()

    kiosk.session.deactivate()
    await kiosk.on("deactivated")
    assert await page.inner_text("#deactivated-text") == Outcome.DEVICE_DEACTIVATED.text()
    await kiosk.shot("16-deactivated")
    kiosk.session.reactivate()
    await kiosk.on("idle")

    await kiosk.ui.stop()  # the agent went away: the page says it is reconnecting
    await kiosk.on("connecting")
    await kiosk.shot("17-connecting")
    await _no_secrets(kiosk)


async def test_personal_data_leaves_the_page_when_the_link_drops(kiosk: Kiosk) -> None:
    kiosk.finger.feed(MatchResult(True, 90))
    kiosk.gateway.answer(Outcome.FOUND_INACTIVE, ALL_ELEMENTS)
    kiosk.card.feed(card_of(AYU))
    kiosk.insert()
    await kiosk.on("result")
    assert AYU.full_name in await kiosk.page.inner_text("#result-elements")
    button = await kiosk.page.query_selector("#result-done")
    assert button is not None and await button.is_visible()
    box = await button.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 800  # everything fits on the screen
    await kiosk.shot("18-result-found-inactive-all-elements")
    await kiosk.ui.stop()
    await kiosk.on("connecting")
    await _no_secrets(kiosk)
