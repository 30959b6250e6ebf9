"""The verification session with fake devices, a fake gateway and a hand-driven clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from edge_agent.config import TimeoutsConfig
from edge_agent.hygiene import NikMaskFilter
from edge_agent.session.screens import Screen, ScreenName, TryProblem
from edge_agent.session.verification import Session, SessionReport, SessionState
from hardware.card.reader import CardContents, CardEvent, CardEventKind, Finger, IdentityField
from hardware.errors import (
    CardNotAuthenticError,
    CardRemovedError,
    CardTimeoutError,
    MalformedCardDataError,
    NoReaderError,
    SamMissingError,
    SamNotAuthorisedError,
)
from hardware.fingerprint.errors import (
    FingerTimeoutError,
    MalformedPacketError,
    PoorImageError,
    SensorTimeoutError,
)
from hardware.fingerprint.packet import MatchResult
from protocol.elements import DataElement
from protocol.messages import ReaderIdentity
from protocol.outcomes import Outcome
from simulators.personas import PERSONAS
from tests.clock import FakeClock
from tests.edge_agent.fakes import (
    FakeCard,
    FakeFinger,
    FakeGatewayPort,
    Recorder,
    buffers_of,
    card_of,
)

AYU = PERSONAS["ayu"]
SLOT = "ID card slot"
OTHER = "second reader"
T = TimeoutsConfig(card_read=10.0, finger_wait=20.0, query=25.0, result_display=8.0)
MATCH = MatchResult(matched=True, score=87)
MISS = MatchResult(matched=False, score=3)
FOUND_ELEMENTS = {
    DataElement.NIK: AYU.nik,
    DataElement.FULL_NAME: AYU.full_name,
    DataElement.BIRTH_PLACE: AYU.birth_place,
    DataElement.ADDRESS: AYU.address,
}


@dataclass
class Kiosk:
    session: Session
    card: FakeCard
    finger: FakeFinger
    gateway: FakeGatewayPort
    clock: FakeClock
    screens: Recorder
    reports: list[SessionReport]

    def insert(self, reader: str = SLOT) -> None:
        self.session.on_card_event(CardEvent(CardEventKind.INSERTED, reader))

    def pull(self, reader: str = SLOT) -> None:
        self.session.on_card_event(CardEvent(CardEventKind.REMOVED, reader))

    def start(self, contents: CardContents) -> None:
        self.card.feed(contents)
        self.insert()

    async def finish_result(self, outcome: Outcome) -> Screen:
        screen = await self.screens.expect(ScreenName.RESULT, outcome)
        await self.clock.wait_sleeping(T.result_display)
        self.clock.advance(T.result_display)
        await self.screens.expect(ScreenName.IDLE)
        return screen


@pytest.fixture
async def kiosk() -> AsyncIterator[Kiosk]:
    card, finger, gateway, clock, screens = (
        FakeCard(),
        FakeFinger(),
        FakeGatewayPort(),
        FakeClock(),
        Recorder(),
    )
    reports: list[SessionReport] = []
    session = Session(
        card=card,
        finger=finger,
        gateway=gateway,
        reader=ReaderIdentity("RDR-0001", "SAM-0001"),
        timeouts=T,
        clock=clock,
        observers=[screens],
        on_finished=reports.append,
    )
    yield Kiosk(session, card, finger, gateway, clock, screens, reports)
    card.release()
    finger.release()
    gateway.release.set()
    await session.close()


def state_of(kiosk: Kiosk) -> SessionState:
    return kiosk.session.state


def assert_wiped(buffers: list[bytearray]) -> None:
    assert buffers
    for buf in buffers:
        assert all(b == 0 for b in buf) and len(buf) == 0


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


# --- a pulled card, at every step -----------------------------------------------------------


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


# --- every step's timeout ---------------------------------------------------------------------


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


# --- card and device failures -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (CardNotAuthenticError("mutual authentication failed", 0x6982), Outcome.CARD_NOT_AUTHENTIC),
        (MalformedCardDataError("bad TLV"), Outcome.CARD_UNREADABLE),
        (CardTimeoutError("card did not answer"), Outcome.CARD_UNREADABLE),
        (SamMissingError("no SAM"), Outcome.SERVICE_UNAVAILABLE),
        (SamNotAuthorisedError("SAM not activated", 0x6985), Outcome.SERVICE_UNAVAILABLE),
        (NoReaderError("no reader"), Outcome.SERVICE_UNAVAILABLE),
    ],
)
async def test_card_errors(kiosk: Kiosk, error: Exception, outcome: Outcome) -> None:
    kiosk.card.feed(error)
    kiosk.insert()
    await kiosk.finish_result(outcome)
    assert kiosk.finger.calls == [] and kiosk.gateway.calls == []
    assert kiosk.session.counter.snapshot() == {outcome.value: 1}


@pytest.mark.parametrize("field", ["missing NIK", "short NIK", "no templates"])
async def test_card_without_usable_data_is_unreadable(kiosk: Kiosk, field: str) -> None:
    contents = card_of(AYU)
    kept = buffers_of(contents)
    if field == "missing NIK":
        del contents.identity[IdentityField.NIK]
    elif field == "short NIK":
        del contents.identity[IdentityField.NIK][-1]
    else:
        contents.templates.clear()
    kiosk.start(contents)
    await kiosk.finish_result(Outcome.CARD_UNREADABLE)
    assert [b for b in kept if b in contents.identity.values()] == []
    assert kiosk.finger.calls == []


@pytest.mark.parametrize(
    "error",
    [SensorTimeoutError("module did not answer"), MalformedPacketError("bad packet")],
)
async def test_fingerprint_module_fault_is_service_unavailable(
    kiosk: Kiosk, error: Exception
) -> None:
    kiosk.finger.feed(error)
    kiosk.start(card_of(AYU))
    await kiosk.finish_result(Outcome.SERVICE_UNAVAILABLE)
    assert kiosk.gateway.calls == []


async def test_gateway_unavailable_is_shown(kiosk: Kiosk) -> None:
    kiosk.finger.feed(MATCH)
    kiosk.gateway.answer(Outcome.SERVICE_UNAVAILABLE)
    kiosk.start(card_of(AYU))
    screen = await kiosk.finish_result(Outcome.SERVICE_UNAVAILABLE)
    assert screen.to_message()["hint"]["id"] == Outcome.SERVICE_UNAVAILABLE.hint()


@pytest.mark.parametrize(
    "outcome", [o for o in Outcome if o.info.upstream] + [Outcome.PATTERN_BLOCKED]
)
async def test_gateway_outcome_is_shown_as_it_is(kiosk: Kiosk, outcome: Outcome) -> None:
    kiosk.finger.feed(MATCH)
    elements = FOUND_ELEMENTS if outcome.info.data_returned else {}
    kiosk.gateway.answer(outcome, elements)
    kiosk.start(card_of(AYU))
    result = await kiosk.screens.expect(ScreenName.RESULT, outcome)
    message = result.to_message()
    assert message["text"] == {"id": outcome.info.text_id, "en": outcome.info.text_en}
    assert len(message["elements"]) == len(elements)


async def test_unexpected_driver_exception_is_service_unavailable(kiosk: Kiosk) -> None:
    kiosk.card.feed(OSError("pcscd went away"))
    kiosk.insert()
    await kiosk.finish_result(Outcome.SERVICE_UNAVAILABLE)


# --- deactivation -----------------------------------------------------------------------------


async def test_deactivated_kiosk_refuses_cards_until_reactivated(kiosk: Kiosk) -> None:
    kiosk.session.deactivate()
    screen = await kiosk.screens.expect(ScreenName.DEACTIVATED)
    assert screen.to_message()["text"]["id"] == Outcome.DEVICE_DEACTIVATED.text()
    kiosk.insert()
    assert state_of(kiosk) is SessionState.DEACTIVATED
    assert kiosk.card.reads == 0
    assert kiosk.session.counter.snapshot() == {"DEVICE_DEACTIVATED": 1}
    kiosk.pull()
    kiosk.session.reactivate()
    await kiosk.screens.expect(ScreenName.IDLE)
    kiosk.finger.feed(MATCH)
    kiosk.gateway.answer(Outcome.FOUND)
    kiosk.start(card_of(AYU))
    await kiosk.finish_result(Outcome.FOUND)


async def test_deactivation_during_a_session_ends_it_wiped(kiosk: Kiosk) -> None:
    contents = card_of(AYU)
    kept = buffers_of(contents)
    kiosk.start(contents)
    await kiosk.screens.expect(ScreenName.FINGER)
    kiosk.session.deactivate()
    await kiosk.screens.expect(ScreenName.DEACTIVATED)
    assert_wiped(kept)
    assert state_of(kiosk) is SessionState.DEACTIVATED
    assert kiosk.session.counter.snapshot() == {"DEVICE_DEACTIVATED": 1}


async def test_close_during_a_session_wipes(kiosk: Kiosk) -> None:
    contents = card_of(AYU)
    kept = buffers_of(contents)
    kiosk.start(contents)
    await kiosk.screens.expect(ScreenName.FINGER)
    await kiosk.session.close()
    assert_wiped(kept)
    kiosk.insert()  # ignored once closed
    assert kiosk.card.reads == 1


async def test_one_session_after_another(kiosk: Kiosk) -> None:
    for outcome in (Outcome.FOUND, Outcome.NOT_FOUND, Outcome.FOUND):
        kiosk.finger.feed(MATCH)
        kiosk.gateway.answer(outcome, FOUND_ELEMENTS if outcome.info.data_returned else None)
        kiosk.start(card_of(AYU))
        await kiosk.finish_result(outcome)
        kiosk.pull()
    assert kiosk.session.counter.snapshot() == {"FOUND": 2, "NOT_FOUND": 1}
    assert len({c.request_id for c in kiosk.gateway.calls}) == 3


async def test_logs_of_a_session_hold_no_personal_data(kiosk: Kiosk) -> None:
    handler = _ListHandler()
    nik_filter = NikMaskFilter()
    handler.addFilter(nik_filter)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        kiosk.finger.feed(MISS, MATCH)
        kiosk.gateway.answer(Outcome.FOUND, FOUND_ELEMENTS)
        kiosk.start(card_of(AYU))
        await kiosk.finish_result(Outcome.FOUND)
        kiosk.pull()
        kiosk.card.feed(CardNotAuthenticError("mutual authentication failed", 0x6982))
        kiosk.insert()
        await kiosk.finish_result(Outcome.CARD_NOT_AUTHENTIC)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    text = "\n".join(handler.lines)
    assert "session done outcome=FOUND" in text
    assert nik_filter.hits == 0  # the last-resort filter never had to mask anything
    for secret in (AYU.nik, AYU.full_name, AYU.kk_number, AYU.address, AYU.birth_place):
        assert secret not in text


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
