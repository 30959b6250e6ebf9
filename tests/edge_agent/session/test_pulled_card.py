"""A card pulled at every step, a second card, and a citizen who cancels."""

from __future__ import annotations

import asyncio

from edge_agent.session.screens import ScreenName
from edge_agent.session.verification import SessionState
from hardware.errors import CardRemovedError
from protocol.outcomes import Outcome
from tests.edge_agent.fakes import buffers_of, card_of
from tests.edge_agent.session.harness import (
    AYU,
    FOUND_ELEMENTS,
    MATCH,
    OTHER,
    SLOT,
    Kiosk,
    assert_wiped,
    state_of,
)


async def test_card_pulled_while_reading_wipes_the_late_read(kiosk: Kiosk) -> None:
    kiosk.insert()
    await kiosk.screens.expect(ScreenName.READING)
    kiosk.pull()
    await kiosk.screens.expect(ScreenName.IDLE)
    late = card_of(AYU)  # the driver answers after the session ended
    kept = buffers_of(late)
    kiosk.card.feed(late)
    # The next session's read runs on the same device thread, after the late one was discarded.
    kiosk.finger.feed(MATCH)
    kiosk.gateway.answer(Outcome.NOT_FOUND)
    kiosk.start(card_of(AYU))
    await kiosk.screens.expect(ScreenName.FINGER)
    assert_wiped(kept)
    assert late.identity == {} and late.templates == {}
    await kiosk.finish_result(Outcome.NOT_FOUND)
    assert kiosk.session.counter.snapshot() == {"CANCELLED": 1, "NOT_FOUND": 1}


async def test_card_pulled_while_waiting_for_a_finger(kiosk: Kiosk) -> None:
    contents = card_of(AYU)
    kept = buffers_of(contents)
    kiosk.start(contents)
    await kiosk.screens.expect(ScreenName.FINGER)
    kiosk.pull()
    await kiosk.screens.expect(ScreenName.IDLE)
    assert_wiped(kept)
    assert await asyncio.to_thread(kiosk.finger.called.wait, 5)
    cancel = kiosk.finger.calls[0].cancel
    assert cancel is not None and cancel.is_set()  # the module stops waiting at once
    assert kiosk.session.counter.snapshot() == {"CANCELLED": 1}
    assert state_of(kiosk) is SessionState.IDLE


async def test_card_pulled_while_querying(kiosk: Kiosk) -> None:
    contents = card_of(AYU)
    kept = buffers_of(contents)
    kiosk.finger.feed(MATCH)
    kiosk.gateway.hold()
    kiosk.start(contents)
    await kiosk.screens.expect(ScreenName.QUERYING)
    kiosk.pull()
    idle = await kiosk.screens.expect(ScreenName.IDLE)
    assert not idle.card_present
    assert_wiped(kept)
    assert kiosk.session.counter.snapshot() == {"CANCELLED": 1}
    assert ScreenName.RESULT.value not in kiosk.screens.names()


async def test_card_pulled_during_the_result_ends_it_and_keeps_the_outcome(kiosk: Kiosk) -> None:
    kiosk.finger.feed(MATCH)
    kiosk.gateway.answer(Outcome.FOUND, FOUND_ELEMENTS)
    kiosk.start(card_of(AYU))
    result = await kiosk.screens.expect(ScreenName.RESULT, Outcome.FOUND)
    element_buffers = list(result.elements.values())
    kiosk.pull()
    await kiosk.screens.expect(ScreenName.IDLE)
    assert_wiped(element_buffers)
    assert kiosk.session.counter.snapshot() == {"FOUND": 1}


async def test_card_removed_error_from_the_driver_ends_quietly(kiosk: Kiosk) -> None:
    kiosk.card.feed(CardRemovedError("card pulled during read"))
    kiosk.insert()
    await kiosk.screens.expect(ScreenName.IDLE)
    assert ScreenName.RESULT.value not in kiosk.screens.names()
    assert kiosk.session.counter.snapshot() == {"CANCELLED": 1}


async def test_a_second_card_is_ignored(kiosk: Kiosk) -> None:
    kiosk.gateway.answer(Outcome.FOUND, FOUND_ELEMENTS)
    kiosk.start(card_of(AYU))
    await kiosk.screens.expect(ScreenName.FINGER)
    kiosk.insert(OTHER)
    kiosk.pull(OTHER)
    kiosk.insert(SLOT)  # a bogus second insertion in the same slot
    assert state_of(kiosk) is SessionState.WAITING_FINGER
    kiosk.finger.feed(MATCH)
    await kiosk.finish_result(Outcome.FOUND)
    assert kiosk.card.reads == 1
    assert kiosk.session.counter.total() == 1


async def test_citizen_cancels_at_the_finger_step(kiosk: Kiosk) -> None:
    kiosk.start(card_of(AYU))
    await kiosk.screens.expect(ScreenName.FINGER)
    assert kiosk.session.cancel()
    await kiosk.screens.expect(ScreenName.IDLE)
    assert kiosk.session.counter.snapshot() == {"CANCELLED": 1}
    assert not kiosk.session.cancel()
