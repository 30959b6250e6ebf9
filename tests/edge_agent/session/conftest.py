"""The `kiosk` fixture: a fresh session on fakes, closed and released after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from edge_agent.session.report import SessionReport
from edge_agent.session.verification import Session
from protocol.messages import ReaderIdentity
from tests.clock import FakeClock
from tests.edge_agent.fakes import FakeCard, FakeFinger, FakeGatewayPort, Recorder
from tests.edge_agent.session.harness import Kiosk, T


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
