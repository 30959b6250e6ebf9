"""Every screen of the kiosk page at 800x480, 1024x600, 1280x800 and portrait 600x1024 in headless
Chromium: photographed into build/screens/<size>-<screen>.png, every button inside the viewport
and at least 48 px, no text cut, nothing scrolls, no serious or critical axe-core violation, and
a focus order that follows the reading order. The screens are pushed straight to the page's
server (the flows through a real session are test_kiosk_page's)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from edge_agent.session.screens import Screen, ScreenName, TryProblem
from edge_agent.ui.server import UiServer
from hardware.card.reader import Finger
from protocol.outcomes import Lang, Outcome
from tests.ui.harness import (
    ALL_ELEMENTS,
    ARGS,
    CHROMIUM,
    ELEMENTS,
    FOCUS_JS,
    HELP,
    KIOSK_ID,
    LAYOUT_JS,
    SCREENS,
    SECRETS,
    SIZES,
    VOICE,
    axe_violations,
    needs_chromium,
    tab_order,
)

pytestmark = [needs_chromium, pytest.mark.asyncio(loop_scope="module")]


BOTH = tuple(Finger)


def _elements(values: dict[Any, str]) -> dict[Any, bytearray]:
    return {k: bytearray(v.encode()) for k, v in values.items()}


def _result(outcome: Outcome, elements: dict[Any, str] | None = None, **kw: Any) -> Screen:
    return Screen(
        ScreenName.RESULT, outcome=outcome, seconds=8, elements=_elements(elements or {}), **kw
    )


# name, the screen, whether the data is held revealed
SHOTS: tuple[tuple[str, Screen | None, bool], ...] = (
    ("idle", Screen(ScreenName.IDLE), False),
    ("notice", Screen(ScreenName.NOTICE, seconds=30), False),
    ("reading", Screen(ScreenName.READING, seconds=10), False),
    (
        "finger",
        Screen(
            ScreenName.FINGER, finger=Finger.RIGHT_INDEX, fingers=BOTH, tries_left=3, seconds=20
        ),
        False,
    ),
    (
        "finger-poor-image",
        Screen(
            ScreenName.FINGER,
            finger=Finger.LEFT_INDEX,
            fingers=BOTH,
            tries_left=1,
            problem=TryProblem.POOR_IMAGE,
            seconds=20,
        ),
        False,
    ),
    ("querying", Screen(ScreenName.QUERYING, seconds=25), False),
    ("result-found", _result(Outcome.FOUND, ELEMENTS), False),
    ("result-found-revealed", _result(Outcome.FOUND, ELEMENTS), True),
    ("result-caveat-all-elements", _result(Outcome.FOUND_INACTIVE, ALL_ELEMENTS), False),
    ("result-caveat-all-revealed", _result(Outcome.FOUND_INACTIVE, ALL_ELEMENTS), True),
    ("result-not-found", _result(Outcome.NOT_FOUND), False),
    ("result-refused", _result(Outcome.USER_INACTIVE), False),
    ("result-fault", _result(Outcome.SERVICE_UNAVAILABLE), False),
    (
        "result-three-failures",
        _result(Outcome.FINGER_MISMATCH, problem=TryProblem.POOR_IMAGE),
        False,
    ),
    ("take-card-after-three-failures", Screen(ScreenName.IDLE, card_present=True), False),
    ("deactivated", Screen(ScreenName.DEACTIVATED), False),
    ("connecting", None, False),
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    SCREENS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        await chromium.close()


@pytest_asyncio.fixture(loop_scope="module")
async def served() -> AsyncIterator[UiServer]:
    ui = UiServer(
        "127.0.0.1", 0, language=Lang.ID, kiosk_id=KIOSK_ID, help_contact=HELP, voice_dir=VOICE
    )
    await ui.start()
    yield ui
    await ui.stop()


async def _show(page: Page, ui: UiServer, screen: Screen | None) -> None:
    if screen is None:
        await ui.stop()
        await page.wait_for_selector('body[data-screen="connecting"]', timeout=5000)
        return
    ui.show(screen)
    # the screen, its texts written (the countdown ticking) before anything is measured
    await page.wait_for_selector(f'body[data-screen="{screen.name.value}"]', timeout=5000)
    await page.wait_for_function(
        "() => [...document.querySelectorAll('.screen')].some((s) => s.offsetParent !== null)"
    )


async def _hold(page: Page) -> None:
    button = page.locator("#result-reveal")
    box = await button.bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.down()
    await page.wait_for_selector("#result-elements dd:not(.masked)", timeout=5000)


async def test_every_screen_at_every_size(browser: Browser, served: UiServer) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page = await context.new_page()
    await page.goto(served.url)
    await page.wait_for_selector('body[data-screen="idle"]', timeout=5000)
    await page.wait_for_selector("#voice:not([hidden])", timeout=5000)
    problems: list[str] = []
    for name, screen, held in SHOTS:
        await page.set_viewport_size({"width": 1280, "height": 800})
        await _show(page, served, screen)
        if held:
            await _hold(page)
        text = await page.inner_text("body")
        assert KIOSK_ID in text and HELP in text, name  # on every screen
        if not held:
            for secret in SECRETS:  # masked: no value of the record is on the page
                assert secret not in await page.content(), name
        problems += [f"{name}: {v}" for v in await axe_violations(page)]
        for size, (width, height) in SIZES.items():
            await page.set_viewport_size({"width": width, "height": height})
            await page.evaluate("new Promise((done) => requestAnimationFrame(() => done()))")
            if held:  # the button moved under the finger: hold it again where it is now
                await page.mouse.up()
                await _hold(page)
            problems += [f"{name} at {size}: {p}" for p in await page.evaluate(LAYOUT_JS)]
            await page.screenshot(path=str(SCREENS / f"{size}-{name}.png"))
        if held:
            await page.mouse.up()
            await page.wait_for_selector("#result-elements dd.masked", timeout=5000)
            continue
        await page.click("#lang")  # the English texts fit too
        await page.wait_for_selector("html[lang='en']", timeout=5000)
        for size, (width, height) in SIZES.items():
            await page.set_viewport_size({"width": width, "height": height})
            await page.evaluate("new Promise((done) => requestAnimationFrame(() => done()))")
            problems += [
                f"{name} in English at {size}: {p}" for p in await page.evaluate(LAYOUT_JS)
            ]
        await page.set_viewport_size({"width": 1280, "height": 800})
        await page.click("#lang")
        await page.wait_for_selector("html[lang='id']", timeout=5000)
    assert problems == [], "\n".join(problems)
    viewport = await page.get_attribute("meta[name=viewport]", "content")
    assert viewport is not None and "user-scalable" not in viewport  # zooming allowed
    assert "maximum-scale" not in viewport
    await context.close()


async def test_each_family_has_its_icon_and_colour(browser: Browser, served: UiServer) -> None:
    page = await browser.new_page(viewport={"width": 1024, "height": 600})
    await page.goto(served.url)
    await page.wait_for_selector('body[data-screen="idle"]', timeout=5000)
    seen: dict[str, tuple[str, str, str]] = {}
    for outcome, family in (
        (Outcome.FOUND, "found"),
        (Outcome.FOUND_DECEASED, "caveat"),
        (Outcome.INVALID_NIK_FORMAT, "not_found"),
        (Outcome.QUOTA_EXHAUSTED, "refused"),
        (Outcome.TIMEOUT, "fault"),
    ):
        served.show(_result(outcome))
        await page.wait_for_selector(f'body[data-family="{family}"]', timeout=5000)
        await page.wait_for_selector(f"#result-text:has-text('{outcome.text()}')", timeout=5000)
        icon = await page.evaluate(
            """() => [...document.querySelectorAll('#screen-result .family-icon g')]
                   .filter((g) => getComputedStyle(g).display !== 'none')
                   .map((g) => g.classList[0])"""
        )
        colour = await page.evaluate(
            "getComputedStyle(document.getElementById('result-text')).color"
        )
        label = await page.inner_text("#result-family")
        seen[family] = (icon[0] if len(icon) == 1 else str(icon), colour, label)
    assert [v[0] for v in seen.values()] == [f"f-{f}" for f in seen]  # one icon each
    assert len({v[1] for v in seen.values()}) == 5  # five colours
    assert len({v[2] for v in seen.values()}) == 5  # and five words (not by colour alone)
    await page.close()


async def test_focus_follows_the_reading_order(browser: Browser, served: UiServer) -> None:
    page = await browser.new_page(viewport={"width": 800, "height": 480})
    await page.goto(served.url)
    await page.wait_for_selector('body[data-screen="idle"]', timeout=5000)
    for screen in (
        Screen(ScreenName.NOTICE, seconds=30),
        Screen(ScreenName.FINGER, finger=Finger.RIGHT_INDEX, fingers=BOTH, tries_left=3),
        _result(Outcome.FOUND, ELEMENTS),
    ):
        await _show(page, served, screen)
        reading: list[str] = await page.evaluate(FOCUS_JS)
        assert reading[:2] == ["voice", "lang"] or reading[:1] == ["lang"]
        assert await tab_order(page, len(reading)) == reading, screen.name
    await page.close()
