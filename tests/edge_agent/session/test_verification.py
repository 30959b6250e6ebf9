"""A whole verification: the elements shown then wiped, the citizen's tries, poor images and
the switch to the other finger."""

from __future__ import annotations

import asyncio

from edge_agent.session.screens import Screen, ScreenName, TryProblem
from edge_agent.session.verification import SessionState
from hardware.card.reader import Finger, IdentityField
from hardware.fingerprint.errors import PoorImageError
from protocol.messages import ReaderIdentity
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


async def test_found_shows_the_elements_then_wipes_everything(kiosk: Kiosk) -> None:
    contents = card_of(AYU)
    kept = buffers_of(contents)
    nik_buffer = contents.identity[IdentityField.NIK]
    kiosk.finger.feed(MATCH)
    kiosk.gateway.answer(Outcome.FOUND, FOUND_ELEMENTS)
    kiosk.start(contents)

    await kiosk.screens.expect(ScreenName.READING)
    finger = await kiosk.screens.expect(ScreenName.FINGER)
    assert finger.finger is Finger.RIGHT_INDEX and finger.tries_left == 3 and finger.problem is None
    await kiosk.screens.expect(ScreenName.QUERYING)
    result = await kiosk.screens.expect(ScreenName.RESULT, Outcome.FOUND)
    assert state_of(kiosk) is SessionState.SHOWING_RESULT
    shown = {e: bytes(v).decode() for e, v in result.elements.items()}
    assert shown == FOUND_ELEMENTS
    element_buffers = list(result.elements.values())
    message = result.to_message()
    assert message["text"]["id"] == "Data Ditemukan"
    assert ["nama_lengkap", AYU.full_name] in message["elements"]

    call = kiosk.gateway.calls[0]
    assert call.nik_text == AYU.nik
    assert call.nik is nik_buffer  # the session's own buffer, wiped at the end
    assert (call.match.finger, call.match.score, call.match.tries) == ("right_index", 87, 1)
    assert call.reader == ReaderIdentity("RDR-0001", "SAM-0001")
    assert len(call.request_id) == 32 and int(call.request_id, 16) >= 0
    assert len(call.replay_key) == 32 and any(call.replay_key)  # fresh random, the session's
    assert kiosk.finger.calls[0].template is contents.templates[Finger.RIGHT_INDEX]
    assert kiosk.finger.calls[0].finger_timeout == T.finger_wait

    await kiosk.clock.wait_sleeping(T.result_display)
    kiosk.clock.advance(T.result_display)
    idle = await kiosk.screens.expect(ScreenName.IDLE)
    assert idle.card_present  # the card is still in: the page says to take it
    assert state_of(kiosk) is SessionState.IDLE
    assert_wiped(kept + element_buffers + [call.replay_key])
    assert contents.identity == {} and contents.templates == {}
    assert result.elements == {}  # the screen referred to the session's buffers: gone too
    assert kiosk.session.counter.snapshot() == {"FOUND": 1}
    (report,) = kiosk.reports
    assert report.outcome is Outcome.FOUND and report.request_id == call.request_id
    assert report.tries == 1 and 0 <= report.own <= report.total
    assert set(report.steps) == {"card", "finger", "query"}

    kiosk.pull()
    idle = await kiosk.screens.expect(ScreenName.IDLE)
    assert not idle.card_present


async def test_mismatch_then_match_counts_two_tries(kiosk: Kiosk) -> None:
    kiosk.finger.feed(MISS, MATCH)
    kiosk.gateway.answer(Outcome.NOT_FOUND)
    kiosk.start(card_of(AYU))
    await kiosk.screens.expect(ScreenName.FINGER)
    retry = await kiosk.screens.expect(ScreenName.FINGER)
    assert retry.problem is TryProblem.MISMATCH and retry.tries_left == 2
    await kiosk.finish_result(Outcome.NOT_FOUND)
    assert kiosk.gateway.calls[0].match.tries == 2


async def test_three_mismatches_end_in_finger_mismatch_without_a_query(kiosk: Kiosk) -> None:
    contents = card_of(AYU)
    kept = buffers_of(contents)
    kiosk.finger.feed(MISS, MISS, MISS)
    kiosk.start(contents)
    screen = await kiosk.finish_result(Outcome.FINGER_MISMATCH)
    tries_left = [s.tries_left for s in kiosk.screens.screens if s.name is ScreenName.FINGER]
    assert tries_left == [3, 2, 1]
    assert kiosk.gateway.calls == []
    assert screen.elements == {}
    assert_wiped(kept)
    assert kiosk.session.counter.snapshot() == {"FINGER_MISMATCH": 1}


async def test_poor_image_counts_as_a_try_and_says_so(kiosk: Kiosk) -> None:
    kiosk.finger.feed(PoorImageError("finger image too disordered", 0x06), MATCH)
    kiosk.gateway.answer(Outcome.FOUND, FOUND_ELEMENTS)
    kiosk.start(card_of(AYU))
    await kiosk.screens.expect(ScreenName.FINGER)
    retry = await kiosk.screens.expect(ScreenName.FINGER)
    assert retry.problem is TryProblem.POOR_IMAGE and retry.tries_left == 2
    await kiosk.finish_result(Outcome.FOUND)
    assert kiosk.gateway.calls[0].match.tries == 2


async def test_citizen_switches_to_the_other_finger(kiosk: Kiosk) -> None:
    contents = card_of(AYU)
    kiosk.gateway.answer(Outcome.FOUND, FOUND_ELEMENTS)
    kiosk.start(contents)
    first = await kiosk.screens.expect(ScreenName.FINGER)
    assert first.fingers == (Finger.RIGHT_INDEX, Finger.LEFT_INDEX)
    right, left = contents.templates[Finger.RIGHT_INDEX], contents.templates[Finger.LEFT_INDEX]
    assert await asyncio.to_thread(kiosk.finger.called.wait, 5)  # waiting with the right one
    kiosk.finger.called.clear()
    assert kiosk.session.select_finger(Finger.LEFT_INDEX)
    switched = await kiosk.screens.expect(ScreenName.FINGER)
    assert switched.finger is Finger.LEFT_INDEX and switched.tries_left == 3
    assert await asyncio.to_thread(kiosk.finger.called.wait, 5)  # now with the left one
    kiosk.finger.feed(MATCH)
    await kiosk.finish_result(Outcome.FOUND)
    assert [
        call.template is t for call, t in zip(kiosk.finger.calls, (right, left), strict=True)
    ] == [True, True]
    assert kiosk.finger.calls[0].cancel is not None and kiosk.finger.calls[0].cancel.is_set()
    assert (kiosk.gateway.calls[0].match.finger, kiosk.gateway.calls[0].match.tries) == (
        "left_index",
        1,
    )


async def test_switch_is_refused_outside_the_finger_step(kiosk: Kiosk) -> None:
    assert not kiosk.session.select_finger(Finger.LEFT_INDEX)
    kiosk.start(card_of(AYU))
    await kiosk.screens.expect(ScreenName.FINGER)
    assert kiosk.session.select_finger(Finger.RIGHT_INDEX)  # already that one: nothing to do
    assert state_of(kiosk) is SessionState.WAITING_FINGER


async def test_card_with_one_template_uses_that_finger(kiosk: Kiosk) -> None:
    contents = card_of(AYU)
    del contents.templates[Finger.RIGHT_INDEX]
    kiosk.finger.feed(MATCH)
    kiosk.gateway.answer(Outcome.FOUND)
    kiosk.start(contents)
    screen = await kiosk.screens.expect(ScreenName.FINGER)
    assert screen.finger is Finger.LEFT_INDEX and screen.fingers == (Finger.LEFT_INDEX,)
    assert not kiosk.session.select_finger(Finger.RIGHT_INDEX)
    await kiosk.finish_result(Outcome.FOUND)


async def test_the_outcome_is_counted_before_the_result_is_shown(kiosk: Kiosk) -> None:
    counted_when_shown: list[dict[str, int]] = []

    class Watch:
        def show(self, screen: Screen) -> None:
            if screen.name is ScreenName.RESULT:
                counted_when_shown.append(kiosk.session.counter.snapshot())

    kiosk.session.add_observer(Watch())
    kiosk.finger.feed(MATCH)
    kiosk.gateway.answer(Outcome.FOUND, FOUND_ELEMENTS)
    kiosk.start(card_of(AYU))
    await kiosk.screens.expect(ScreenName.RESULT, Outcome.FOUND)
    assert counted_when_shown == [{"FOUND": 1}]
    kiosk.pull()  # the citizen takes the card during the result: still counted once
    await kiosk.screens.expect(ScreenName.IDLE)
    assert kiosk.session.counter.snapshot() == {"FOUND": 1}
