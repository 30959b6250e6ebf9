"""The kiosk page in headless Chromium (Debian's), driven by Playwright, against a real session.

Every step is photographed into build/screens/. The privacy notice comes before the card is
read; the elements of a found record stay masked unless the citizen holds the button; they are
gone from the page once the screen ends or the card is pulled, and never in any URL the page
requests. One browser serves the whole module.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from edge_agent.session.verification import SessionState
from edge_agent.ui import voice
from hardware.errors import CardNotAuthenticError
from hardware.fingerprint.errors import PoorImageError
from hardware.fingerprint.packet import MatchResult
from protocol.outcomes import Outcome
from tests.edge_agent.fakes import card_of
from tests.ui.harness import (
    ALL_ELEMENTS,
    ARGS,
    AYU,
    CHROMIUM,
    ELEMENTS,
    HELP,
    KIOSK_ID,
    SCREENS,
    SECRETS,
    VOICE,
    needs_chromium,
)
from tests.ui.session_kiosk import Kiosk, T, open_kiosk

pytestmark = [needs_chromium, pytest.mark.asyncio(loop_scope="module")]
READY = "Kios siap untuk warga berikutnya"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    SCREENS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        await chromium.close()


@pytest_asyncio.fixture(loop_scope="module")
async def kiosk(browser: Browser) -> AsyncIterator[Kiosk]:
    async for k in open_kiosk(browser, VOICE):
        yield k


@pytest_asyncio.fixture(loop_scope="module")
async def silent(browser: Browser) -> AsyncIterator[Kiosk]:
    async for k in open_kiosk(browser, None):  # [ui] voice = false
        yield k


async def _no_secrets(kiosk: Kiosk) -> None:
    html = await kiosk.page.content()
    text = await kiosk.page.evaluate("document.body.innerText")
    for secret in SECRETS:
        assert secret not in html and secret not in text
        for url in [kiosk.page.url, *kiosk.urls]:
            assert secret not in url
    assert await kiosk.page.evaluate("localStorage.length + sessionStorage.length") == 0


async def _hold_reveal(page: Page) -> None:
    box = await page.locator("#result-reveal").bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.down()
    await page.wait_for_selector("#result-elements dd:not(.masked)", timeout=5000)


async def test_a_verification_screen_by_screen(kiosk: Kiosk) -> None:
    page = kiosk.page
    assert await page.inner_text("#idle-title") == "Masukkan KTP-el Anda ke pembaca kartu"
    assert await page.inner_text("#kiosk-id") == KIOSK_ID
    assert await page.inner_text("#help-contact") == HELP
    assert READY not in await page.inner_text("body")  # nobody has used it yet
    await kiosk.shot("01-idle")

    kiosk.insert()
    await kiosk.on("notice")  # before the card is read: what is read, nothing kept, the law
    notice = await page.inner_text("#screen-notice")
    assert (
        "PKS" in notice and "UU No. 27 Tahun 2022" in notice and "Tidak ada yang disimpan" in notice
    )
    assert re.search(r"Sisa waktu: (30|29) detik", notice)
    assert kiosk.card.reads == 0 and kiosk.session.state is SessionState.NOTICE
    await kiosk.shot("02-notice")
    await page.click("#notice-accept")  # accepted by a touch
    await kiosk.on("reading")
    assert re.search(r"Sisa waktu: \d+ detik", await page.inner_text("#screen-reading"))
    await kiosk.shot("03-reading")

    kiosk.card.feed(card_of(AYU))
    await kiosk.on("finger")
    assert "telunjuk kanan" in await page.inner_text("#finger-title")
    assert await page.inner_text("#finger-tries") == "Sisa percobaan: 3"
    assert re.search(r"Sisa waktu: \d+ detik", await page.inner_text("#screen-finger"))
    await kiosk.shot("04-finger-right")

    assert await asyncio.to_thread(kiosk.finger.called.wait, 5)
    kiosk.finger.called.clear()
    await page.click("#finger-switch")  # the citizen taps "use left index finger"
    await page.wait_for_selector("#finger-title:has-text('telunjuk kiri')", timeout=5000)
    assert await asyncio.to_thread(kiosk.finger.called.wait, 5)
    kiosk.finger.feed(MatchResult(False, 4))
    await page.wait_for_selector("#finger-problem:not([hidden])", timeout=5000)
    assert await page.inner_text("#finger-tries") == "Sisa percobaan: 2"
    await kiosk.shot("05-finger-mismatch")

    await page.click("#lang")
    await page.wait_for_selector("#finger-title:has-text('left index finger')", timeout=5000)
    assert "Time left" in await page.inner_text("#screen-finger")
    await kiosk.shot("06-finger-mismatch-en")
    await page.click("#lang")

    kiosk.gateway.proceed = asyncio.Event()
    kiosk.gateway.answer(Outcome.FOUND, ELEMENTS)
    kiosk.finger.feed(MatchResult(True, 93))
    await kiosk.on("querying")
    assert re.search(r"Sisa waktu: \d+ detik", await page.inner_text("#screen-querying"))
    await kiosk.shot("07-querying")

    kiosk.gateway.proceed.set()
    await kiosk.on("result")
    assert await page.inner_text("#result-text") == "Data Ditemukan"
    assert await page.inner_text("#result-family") == "DITEMUKAN"
    shown = await page.inner_text("#result-elements")
    assert "Nama lengkap" in shown and "NIK" in shown
    await _no_secrets(kiosk)  # masked by default: not even in the page's HTML
    await kiosk.shot("08-result-found-masked")
    await _hold_reveal(page)  # revealed while the citizen holds the button
    shown = await page.inner_text("#result-elements")
    assert AYU.full_name in shown and AYU.nik in shown
    await kiosk.shot("09-result-found-held")
    await page.mouse.up()
    await page.wait_for_selector("#result-elements dd.masked", timeout=5000)
    await _no_secrets(kiosk)

    await page.click("#lang")
    await page.wait_for_selector("#result-text:has-text('Data found')", timeout=5000)
    assert "Full name" in await page.inner_text("#result-elements")
    assert "closes in" in await page.inner_text("#result-closing")
    await kiosk.shot("10-result-found-en")
    assert kiosk.gateway.calls[0].match.finger == "left_index"

    await kiosk.end_result()
    assert await page.inner_text("#idle-title") == "Silakan ambil kartu Anda"
    assert READY not in await page.inner_text("body")  # not while the card is in the reader
    assert await page.evaluate("document.documentElement.lang") == "id"  # back to the default
    await kiosk.shot("11-idle-take-card")
    await _no_secrets(kiosk)
    assert await page.evaluate("document.getElementById('result-elements').childElementCount") == 0

    kiosk.pull()
    await page.wait_for_selector(
        "#idle-ready:has-text('siap untuk warga berikutnya')", timeout=5000
    )
    assert await page.inner_text("#idle-title") == "Masukkan KTP-el Anda ke pembaca kartu"
    await kiosk.shot("12-idle-ready")

    # the spoken prompts: fixed keys, in the language shown, played by the page
    spoken = kiosk.spoken()
    for key in ("id/idle.wav", "id/notice.wav", "id/finger.right_index.wav", "en/"):
        assert any(s.startswith(key) for s in spoken), (key, spoken)
    assert "id/result.FOUND.wav" in spoken and "id/take_card.wav" in spoken
    for s in spoken:
        lang, name = s.split("/")
        assert voice.is_prompt(lang, name.removesuffix(".wav"))
    assert kiosk.errors == [], kiosk.errors  # nothing refused by the Content-Security-Policy


async def test_three_failed_fingers_say_what_to_do_next(kiosk: Kiosk) -> None:
    page = kiosk.page
    kiosk.card.feed(card_of(AYU))
    await kiosk.start(accept_on_page=True)
    await kiosk.on("finger")
    kiosk.finger.feed(PoorImageError("poor image", 0x07))
    await page.wait_for_selector("#finger-problem:has-text('kaca sensor')", timeout=5000)
    await kiosk.shot("20-finger-poor-image")
    kiosk.finger.feed(MatchResult(False, 2), PoorImageError("poor image", 0x07))
    await kiosk.on("result")
    assert await page.inner_text("#result-text") == "Sidik jari tidak cocok"
    failed = await page.inner_text("#result-failed")
    assert "petugas di loket layanan" in failed  # the next step
    assert "aus" in failed and "terluka" in failed and "Kaca sensor kotor" in failed  # reasons
    assert await page.is_visible("#result-glass")  # the last image was poor: clean the glass
    assert await page.is_visible("#result-done")
    await kiosk.shot("21-result-three-failures")
    assert kiosk.spoken()[-1] == "id/result.FINGER_MISMATCH.wav"
    await kiosk.end_result()
    # taking the card, the citizen still sees where to go next
    assert "petugas di loket layanan" in await page.inner_text("#idle-next")
    await kiosk.shot("22-take-card-after-three-failures")
    kiosk.pull()
    await page.wait_for_selector("#idle-next[hidden]", state="attached", timeout=5000)


async def test_failure_screens_cancel_and_deactivation(kiosk: Kiosk) -> None:
    page = kiosk.page

    kiosk.insert()
    await kiosk.on("notice")
    await page.click("#notice-cancel")  # the citizen declines: nothing is read
    await kiosk.on("idle")
    assert kiosk.card.reads == 0 and kiosk.session.counter.get(Outcome.CANCELLED) == 1
    kiosk.pull()

    kiosk.insert()
    await kiosk.on("notice")
    await kiosk.clock.wait_sleeping(T.notice)
    kiosk.clock.advance(T.notice)
    await kiosk.on("result")
    assert await page.inner_text("#result-text") == Outcome.TIMEOUT.text()
    assert "memasukkan kartu" in await page.inner_text("#result-hint")  # as the idle screen says
    await kiosk.end_result()
    kiosk.pull()

    kiosk.card.feed(CardNotAuthenticError("mutual authentication failed", 0x6982))
    await kiosk.start()
    await kiosk.on("result")
    assert await page.inner_text("#result-text") == Outcome.CARD_NOT_AUTHENTIC.text()
    assert await page.get_attribute("body", "data-family") == "refused"
    await kiosk.end_result()
    kiosk.pull()

    kiosk.finger.feed(MatchResult(True, 80))
    kiosk.gateway.answer(Outcome.SERVICE_UNAVAILABLE)
    kiosk.card.feed(card_of(AYU))
    await kiosk.start()
    await kiosk.on("result")
    assert await page.inner_text("#result-text") == Outcome.SERVICE_UNAVAILABLE.text()
    assert await page.get_attribute("body", "data-family") == "fault"
    await page.click("#result-done")  # closes the result early
    await kiosk.on("idle")
    kiosk.pull()

    kiosk.card.feed(card_of(AYU))
    await kiosk.start()
    await kiosk.on("finger")
    await page.click("#finger-cancel")
    await kiosk.on("idle")
    assert kiosk.session.counter.get(Outcome.CANCELLED) == 2
    kiosk.pull()

    kiosk.session.deactivate()
    await kiosk.on("deactivated")
    assert await page.inner_text("#deactivated-text") == Outcome.DEVICE_DEACTIVATED.text()
    assert KIOSK_ID in await page.inner_text("body")
    kiosk.session.reactivate()
    await kiosk.on("idle")

    await kiosk.ui.stop()  # the agent went away: the page says it is reconnecting
    await kiosk.on("connecting")
    assert KIOSK_ID in await page.inner_text("body") and HELP in await page.inner_text("body")
    await _no_secrets(kiosk)


async def test_pulling_the_card_clears_everything_at_once(kiosk: Kiosk) -> None:
    page = kiosk.page
    kiosk.finger.feed(MatchResult(True, 90))
    kiosk.gateway.answer(Outcome.FOUND_INACTIVE, ALL_ELEMENTS)
    kiosk.card.feed(card_of(AYU))
    await kiosk.start()
    await kiosk.on("result")
    assert await page.get_attribute("body", "data-family") == "caveat"
    hint = await page.inner_text("#result-hint")
    assert "Dukcapil" not in hint  # the text already says it: said once
    await _hold_reveal(page)
    assert AYU.full_name in await page.inner_text("#result-elements")
    kiosk.pull()  # while the data is shown
    await kiosk.on("idle")
    await page.mouse.up()
    assert await page.evaluate("document.getElementById('result-elements').childElementCount") == 0
    await _no_secrets(kiosk)
    assert await page.is_visible("#idle-ready")  # the card is out


async def test_personal_data_leaves_the_page_when_the_link_drops(kiosk: Kiosk) -> None:
    kiosk.finger.feed(MatchResult(True, 90))
    kiosk.gateway.answer(Outcome.FOUND_INACTIVE, ALL_ELEMENTS)
    kiosk.card.feed(card_of(AYU))
    await kiosk.start()
    await kiosk.on("result")
    await _hold_reveal(kiosk.page)
    assert AYU.full_name in await kiosk.page.inner_text("#result-elements")
    await kiosk.ui.stop()
    await kiosk.on("connecting")
    await kiosk.page.mouse.up()
    await _no_secrets(kiosk)


async def test_the_citizen_switches_the_voice_off(kiosk: Kiosk) -> None:
    page = kiosk.page
    assert await page.get_attribute("#voice", "aria-pressed") == "true"
    await page.click("#voice")
    assert await page.get_attribute("#voice", "aria-pressed") == "false"
    assert await page.inner_text("#voice") == "Suara: mati"
    before = len(kiosk.spoken())
    kiosk.card.feed(card_of(AYU))
    await kiosk.start()
    await kiosk.on("finger")
    assert len(kiosk.spoken()) == before  # silent for this citizen
    await page.click("#finger-cancel")
    await kiosk.on("idle")
    await page.wait_for_selector("#voice[aria-pressed='true']", timeout=5000)  # the next: on
    kiosk.pull()


async def test_the_config_switches_the_voice_off(silent: Kiosk) -> None:
    page = silent.page
    assert await page.is_hidden("#voice")
    silent.card.feed(card_of(AYU))
    await silent.start()
    await silent.on("finger")
    assert silent.spoken() == []
    await page.click("#finger-cancel")
    await silent.on("idle")
