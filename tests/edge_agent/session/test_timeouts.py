"""Every step's timeout on the hand-driven clock."""

from __future__ import annotations

from edge_agent.session.screens import ScreenName
from edge_agent.session.verification import SessionState
from hardware.fingerprint.errors import FingerTimeoutError
from protocol.outcomes import Outcome
from tests.edge_agent.fakes import buffers_of, card_of
from tests.edge_agent.session.harness import (
    AYU,
    FOUND_ELEMENTS,
    MATCH,
    MISS,
    Kiosk,
    T,
    assert_wiped,
    state_of,
)


async def test_card_read_timeout(kiosk: Kiosk) -> None:
    kiosk.insert()
    await kiosk.screens.expect(ScreenName.READING)
    await kiosk.clock.wait_sleeping(T.card_read)
    kiosk.clock.advance(T.card_read)
    await kiosk.finish_result(Outcome.TIMEOUT)


async def test_finger_wait_timeout(kiosk: Kiosk) -> None:
    contents = card_of(AYU)
    kept = buffers_of(contents)
    kiosk.start(contents)
    await kiosk.screens.expect(ScreenName.FINGER)
    await kiosk.clock.wait_sleeping(T.finger_wait)
    kiosk.clock.advance(T.finger_wait)
    await kiosk.finish_result(Outcome.TIMEOUT)
    assert_wiped(kept)


async def test_the_modules_own_finger_timeout_is_a_timeout(kiosk: Kiosk) -> None:
    kiosk.finger.feed(FingerTimeoutError("no finger before the timeout", 0x02))
    kiosk.start(card_of(AYU))
    await kiosk.finish_result(Outcome.TIMEOUT)


async def test_finger_wait_is_per_try(kiosk: Kiosk) -> None:
    kiosk.finger.feed(MISS)
    kiosk.start(card_of(AYU))
    await kiosk.screens.expect(ScreenName.FINGER)
    await kiosk.screens.expect(ScreenName.FINGER)
    await kiosk.clock.wait_sleeping(T.finger_wait)
    assert kiosk.finger.calls[-1].finger_timeout == T.finger_wait
    kiosk.clock.advance(T.finger_wait)
    await kiosk.finish_result(Outcome.TIMEOUT)


async def test_query_timeout(kiosk: Kiosk) -> None:
    kiosk.finger.feed(MATCH)
    kiosk.gateway.hold()
    kiosk.start(card_of(AYU))
    await kiosk.screens.expect(ScreenName.QUERYING)
    await kiosk.clock.wait_sleeping(T.query)
    kiosk.clock.advance(T.query)
    await kiosk.finish_result(Outcome.TIMEOUT)


async def test_result_display_time(kiosk: Kiosk) -> None:
    kiosk.finger.feed(MATCH)
    kiosk.gateway.answer(Outcome.FOUND_DECEASED, FOUND_ELEMENTS)
    kiosk.start(card_of(AYU))
    result = await kiosk.screens.expect(ScreenName.RESULT, Outcome.FOUND_DECEASED)
    assert result.seconds == T.result_display
    await kiosk.clock.wait_sleeping(T.result_display)
    kiosk.clock.advance(T.result_display - 0.5)
    assert state_of(kiosk) is SessionState.SHOWING_RESULT
    kiosk.clock.advance(0.5)
    await kiosk.screens.expect(ScreenName.IDLE)
