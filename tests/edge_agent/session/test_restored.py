"""A result counted before the agent stopped and never shown is shown after the restart."""

from __future__ import annotations

from pathlib import Path

from edge_agent.session.screens import ScreenName
from edge_agent.session.verification import SessionState
from edge_agent.uplink.outbox import RESHOW_WITHIN, OutboxCounter, UsageOutbox
from protocol.outcomes import Outcome
from tests.edge_agent.fakes import card_of
from tests.edge_agent.session.harness import AYU, FOUND_ELEMENTS, MATCH, Kiosk, T

WALL = 1_767_225_600.0


def _counter(path: Path, wall: float = WALL) -> OutboxCounter:
    return OutboxCounter(UsageOutbox(path, "31", wall), lambda: wall)


def test_a_count_to_be_shown_is_unshown_until_the_page_has_it(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    counter = _counter(path)
    counter.add(Outcome.CANCELLED)  # no result screen: never unshown
    assert counter.unshown() is None
    result_id = counter.add(Outcome.FOUND, shown=True)
    # the agent stops here: the restarted one finds it, with the same id
    again = _counter(path).unshown()
    assert again is not None and (again.outcome, again.result_id) == (Outcome.FOUND, result_id)
    counter.delivered(result_id)
    assert _counter(path).unshown() is None


def test_an_old_unshown_result_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    _counter(path).add(Outcome.NOT_FOUND, shown=True)
    assert _counter(path, WALL + RESHOW_WITHIN + 1).unshown() is None  # a long power cut
    assert _counter(path).unshown() is None


async def test_the_session_shows_the_unshown_result_then_idles(
    kiosk: Kiosk, tmp_path: Path
) -> None:
    counter = _counter(tmp_path / "usage.sqlite3")
    result_id = counter.add(Outcome.FOUND, shown=True)
    kiosk.session.counter = counter
    kiosk.session.reshow_unshown()
    screen = await kiosk.screens.expect(ScreenName.RESULT, Outcome.FOUND)
    assert screen.result_id == result_id and screen.elements == {}
    assert kiosk.session.state is SessionState.SHOWING_RESULT
    kiosk.session.result_delivered(result_id)  # the page has it
    assert counter.unshown() is None
    await kiosk.clock.wait_sleeping(T.result_display)
    kiosk.clock.advance(T.result_display)
    await kiosk.screens.expect(ScreenName.IDLE)


async def test_a_session_result_carries_its_count_and_is_delivered(
    kiosk: Kiosk, tmp_path: Path
) -> None:
    counter = _counter(tmp_path / "usage.sqlite3")
    kiosk.session.counter = counter
    kiosk.finger.feed(MATCH)
    kiosk.gateway.answer(Outcome.FOUND, FOUND_ELEMENTS)
    kiosk.start(card_of(AYU))
    screen = await kiosk.screens.expect(ScreenName.RESULT, Outcome.FOUND)
    assert screen.result_id is not None
    assert screen.to_message()["result_id"] == screen.result_id
    unshown = counter.unshown()
    assert unshown is not None and unshown.result_id == screen.result_id
    kiosk.session.result_delivered(screen.result_id)
    assert counter.unshown() is None
    await kiosk.clock.wait_sleeping(T.result_display)
    kiosk.clock.advance(T.result_display)
    await kiosk.screens.expect(ScreenName.IDLE)
