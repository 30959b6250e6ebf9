"""A real session behind the kiosk page in a Chromium page: what the page flow tests drive."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import Browser, Page

from edge_agent.config import TimeoutsConfig
from edge_agent.session.verification import Session
from edge_agent.ui.server import UiServer
from hardware.card.reader import CardEvent, CardEventKind
from protocol.messages import ReaderIdentity
from protocol.outcomes import Lang
from tests.clock import FakeClock
from tests.edge_agent.fakes import FakeCard, FakeFinger, FakeGatewayPort
from tests.ui.harness import HELP, KIOSK_ID, SCREENS

T = TimeoutsConfig(card_read=10, finger_wait=20, query=25, result_display=8, notice=30)


@dataclass
class Kiosk:
    """The session, its fakes and the page, as a test drives them."""

    session: Session
    ui: UiServer
    card: FakeCard
    finger: FakeFinger
    gateway: FakeGatewayPort
    clock: FakeClock
    page: Page
    urls: list[str]
    errors: list[str] = field(default_factory=list)

    def insert(self) -> None:
        self.session.on_card_event(CardEvent(CardEventKind.INSERTED, "slot"))

    def pull(self) -> None:
        self.session.on_card_event(CardEvent(CardEventKind.REMOVED, "slot"))

    async def on(self, screen: str) -> None:
        await self.page.wait_for_selector(f'body[data-screen="{screen}"]', timeout=5000)

    async def shot(self, name: str) -> None:
        await self.page.screenshot(path=str(SCREENS / f"{name}.png"))

    async def start(self, accept_on_page: bool = False) -> None:
        """Insert the card and accept the privacy notice (on the page, or as the page does)."""
        self.insert()
        await self.on("notice")
        if accept_on_page:
            await self.page.click("#notice-accept")
        else:
            assert self.session.accept_notice()

    async def end_result(self) -> None:
        await self.clock.wait_sleeping(T.result_display)
        self.clock.advance(T.result_display)
        await self.on("idle")

    def spoken(self) -> list[str]:
        return [u.split("/voice/", 1)[1] for u in self.urls if "/voice/" in u]


async def open_kiosk(browser: Browser, voice_dir: Path | None) -> AsyncIterator[Kiosk]:
    """A session, its page server and a page on it (voice_dir None: the voice switched off)."""
    card, finger, gateway, clock = FakeCard(), FakeFinger(), FakeGatewayPort(), FakeClock()
    ui = UiServer(
        "127.0.0.1", 0, language=Lang.ID, kiosk_id=KIOSK_ID, help_contact=HELP, voice_dir=voice_dir
    )
    session = Session(
        card=card,
        finger=finger,
        gateway=gateway,
        reader=ReaderIdentity("RDR-0001", "SAM-0001"),
        timeouts=T,
        clock=clock,
        observers=[ui],
        notice_wait=T.notice,
    )
    ui.set_control(session)
    await ui.start()
    assert await ui.wait_voice() is (voice_dir is not None)
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.on("websocket", lambda ws: urls.append(ws.url))
    kiosk = Kiosk(session, ui, card, finger, gateway, clock, page, urls)
    page.on("console", lambda m: kiosk.errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: kiosk.errors.append(r.url) if r.status >= 400 else None)
    await page.goto(ui.url)
    await kiosk.on("idle")
    try:
        yield kiosk
    finally:
        card.release()
        finger.release()
        gateway.release.set()
        await session.close()
        await page.close()
        await ui.stop()
