"""The session under test with fake devices, a fake gateway and a hand-driven clock: the
kiosk a test drives, and the values the session tests share."""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.config import TimeoutsConfig
from edge_agent.session.report import SessionReport
from edge_agent.session.screens import Screen, ScreenName
from edge_agent.session.verification import Session, SessionState
from hardware.card.reader import CardContents, CardEvent, CardEventKind
from hardware.fingerprint.packet import MatchResult
from protocol.elements import DataElement
from protocol.outcomes import Outcome
from simulators.personas import PERSONAS
from tests.clock import FakeClock
from tests.edge_agent.fakes import FakeCard, FakeFinger, FakeGatewayPort, Recorder

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
    """The session and its fakes, as a test drives them."""

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


def state_of(kiosk: Kiosk) -> SessionState:
    return kiosk.session.state


def assert_wiped(buffers: list[bytearray]) -> None:
    assert buffers
    for buf in buffers:
        assert all(b == 0 for b in buf) and len(buf) == 0
