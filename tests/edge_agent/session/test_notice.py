"""The privacy notice before the card is read, and the seconds every waiting screen carries."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from edge_agent.session.screens import ScreenName, TryProblem
from edge_agent.session.verification import Session, SessionState
from hardware.card.reader import CardEvent, CardEventKind
from hardware.fingerprint.errors import PoorImageError
from protocol.messages import ReaderIdentity
from protocol.outcomes import Outcome
from tests.clock import FakeClock
from tests.edge_agent.fakes import FakeCard, FakeFinger, FakeGatewayPort, Recorder, card_of
from tests.edge_agent.session.harness import AYU, MISS, SLOT, T

NOTICE = 30.0
Parts = tuple[Session, FakeCard, FakeFinger, FakeClock, Recorder]


@pytest.fixture
async def parts() -> AsyncIterator[Parts]:
    card, finger, gateway, clock, screens = (
        FakeCard(),
        FakeFinger(),
        FakeGatewayPort(),
        FakeClock(),
        Recorder(),
    )
    gateway.answer(Outcome.FOUND, {})
    session = Session(
        card=card,
        finger=finger,
        gateway=gateway,
        reader=ReaderIdentity("RDR-0001", "SAM-0001"),
        timeouts=T,
        clock=clock,
        observers=[screens],
        notice_wait=NOTICE,
    )
    yield session, card, finger, clock, screens
    card.release()
    finger.release()
    gateway.release.set()
    await session.close()


def _insert(session: Session) -> None:
    session.on_card_event(CardEvent(CardEventKind.INSERTED, SLOT))


async def test_nothing_is_read_before_the_notice_is_accepted(parts: Parts) -> None:
    session, card, finger, clock, screens = parts
    assert not session.accept_notice()  # no notice shown: nothing to accept
    card.feed(card_of(AYU))
    _insert(session)
    notice = await screens.expect(ScreenName.NOTICE)
    assert notice.to_message() == {"screen": "notice", "seconds": NOTICE}
    assert session.state is SessionState.NOTICE and card.reads == 0
    assert session.accept_notice()
    reading = await screens.expect(ScreenName.READING)
    assert reading.to_message()["seconds"] == T.card_read
    first = await screens.expect(ScreenName.FINGER)
    assert first.to_message()["seconds"] == T.finger_wait
    finger.feed(PoorImageError("poor", 0x07), MISS)
    await screens.expect(ScreenName.FINGER)
    finger.feed(PoorImageError("poor", 0x07))
    result = await screens.expect(ScreenName.RESULT, Outcome.FINGER_MISMATCH)
    assert result.problem is TryProblem.POOR_IMAGE  # the page says: clean the sensor glass
    assert result.to_message()["family"] == "refused"
    await clock.wait_sleeping(T.result_display)
    clock.advance(T.result_display)
    await screens.expect(ScreenName.IDLE)


async def test_the_notice_declined_or_left_alone(parts: Parts) -> None:
    session, card, _, clock, screens = parts
    _insert(session)
    await screens.expect(ScreenName.NOTICE)
    assert session.cancel()
    await screens.expect(ScreenName.IDLE)
    assert session.counter.get(Outcome.CANCELLED) == 1 and card.reads == 0

    _insert(session)
    await screens.expect(ScreenName.NOTICE)
    await clock.wait_sleeping(NOTICE)
    clock.advance(NOTICE)
    await screens.expect(ScreenName.RESULT, Outcome.TIMEOUT)
    assert card.reads == 0
    await clock.wait_sleeping(T.result_display)
    clock.advance(T.result_display)
    await screens.expect(ScreenName.IDLE)

    session.on_card_event(CardEvent(CardEventKind.REMOVED, SLOT))
    _insert(session)  # the next citizen is asked again
    await screens.expect(ScreenName.NOTICE)
    session.on_card_event(CardEvent(CardEventKind.REMOVED, SLOT))  # pulled at the notice
    await screens.expect(ScreenName.IDLE)
    assert card.reads == 0 and session.counter.get(Outcome.CANCELLED) == 2
