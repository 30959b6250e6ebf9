"""Deactivation, close, sessions one after another, and logs without personal data."""

from __future__ import annotations

import logging

from edge_agent.hygiene import NikMaskFilter
from edge_agent.session.screens import ScreenName
from edge_agent.session.verification import SessionState
from hardware.errors import CardNotAuthenticError
from protocol.outcomes import Outcome
from tests.edge_agent.fakes import buffers_of, card_of
from tests.edge_agent.session.harness import (
    AYU,
    FOUND_ELEMENTS,
    MATCH,
    MISS,
    Kiosk,
    assert_wiped,
    state_of,
)


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
