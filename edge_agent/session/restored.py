"""A result counted before the agent stopped and never shown: shown once after the restart.

The session counts an outcome (durably) before its result screen goes to the page; an agent
killed in between (a crash, a power cut, a watchdog) would leave a count the citizen never saw.
The counter remembers such a result until the page has it, and the restarted agent shows it
(the outcome only: the citizen's data went with the old process) before going idle.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from common.clock import Clock
from edge_agent.session.counters import OutcomeCounter
from edge_agent.session.screens import Screen, ScreenName

_log = logging.getLogger(__name__)


class RestoredResult:
    """The unshown result of the counter, its screen, and its end after the display time."""

    def __init__(self, clock: Clock, display: float) -> None:
        self._clock = clock
        self._display = display
        self._result_id: str | None = None
        self._end: asyncio.Task[None] | None = None

    def screen(self, counter: OutcomeCounter) -> Screen | None:
        """The result screen to show now, or None if every counted result reached a page."""
        unshown = counter.unshown()
        if unshown is None:
            return None
        _log.info("showing result %s counted before the restart", unshown.result_id)
        self._result_id = unshown.result_id
        return Screen(
            ScreenName.RESULT,
            outcome=unshown.outcome,
            seconds=self._display,
            result_id=unshown.result_id,
        )

    def delivered(
        self, counter: OutcomeCounter, result_id: str, on_end: Callable[[], None]
    ) -> None:
        """The page has `result_id`; for the restored one, `on_end` after the display time."""
        counter.delivered(result_id)
        if result_id == self._result_id and self._end is None:
            self._end = asyncio.get_running_loop().create_task(self._wait(on_end))

    async def _wait(self, on_end: Callable[[], None]) -> None:
        await self._clock.sleep(self._display)
        self._result_id = None
        on_end()

    async def close(self) -> None:
        """Stop waiting."""
        if self._end is not None:
            self._end.cancel()
            await asyncio.gather(self._end, return_exceptions=True)
