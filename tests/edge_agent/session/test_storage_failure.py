"""An outcome that cannot be counted is never shown; no session starts while nothing can be."""

from __future__ import annotations

from pathlib import Path

from edge_agent.errors import StorageFailure
from edge_agent.session.counters import OutcomeCounter
from edge_agent.session.screens import ScreenName
from protocol.outcomes import Outcome
from tests.edge_agent.fakes import card_of
from tests.edge_agent.session.harness import AYU, FOUND_ELEMENTS, MATCH, Kiosk


class FullDisk(OutcomeCounter):
    """A counter whose outbox cannot be written."""

    def add(self, outcome: Outcome, shown: bool = False) -> str:
        raise StorageFailure(Path("/state/usage.sqlite3"), "database or disk is full")


async def test_an_answer_that_cannot_be_counted_is_not_shown(kiosk: Kiosk) -> None:
    kiosk.session.counter = FullDisk()
    kiosk.finger.feed(MATCH)
    kiosk.gateway.answer(Outcome.FOUND, FOUND_ELEMENTS)
    kiosk.start(card_of(AYU))
    result = await kiosk.screens.expect(ScreenName.RESULT, Outcome.STORAGE_FAILURE)
    assert result.elements == {}  # the data elements were wiped, never shown
    message = result.to_message()
    assert message["text"]["id"].startswith("Kios tidak dapat mencatat")
    assert message["text"]["en"].startswith("The kiosk cannot record")


async def test_no_session_starts_while_the_folder_cannot_be_written(kiosk: Kiosk) -> None:
    kiosk.session.set_storage(False)
    kiosk.insert()
    await kiosk.screens.expect(ScreenName.RESULT, Outcome.STORAGE_FAILURE)
    assert kiosk.card.reads == 0  # refused before the card is read
    kiosk.pull()
    await kiosk.screens.expect(ScreenName.IDLE)
    kiosk.session.set_storage(True)
    kiosk.finger.feed(MATCH)
    kiosk.gateway.answer(Outcome.FOUND, FOUND_ELEMENTS)
    kiosk.start(card_of(AYU))
    await kiosk.screens.expect(ScreenName.RESULT, Outcome.FOUND)
