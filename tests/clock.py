"""The one fake of common.clock.Clock: wall and monotonic time and sleeps, moved by hand."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tests.waiting import until

WAIT = 5.0  # seconds any test waits for something that should happen at once


class FakeClock:
    """time(), monotonic() and sleep() that move only when the test calls advance()."""

    def __init__(self, wall: float = 1_700_000_000.0, mono: float = 1000.0) -> None:
        self.wall = wall
        self.mono = mono
        self._sleepers: list[tuple[float, float, asyncio.Future[None]]] = []
        self._changed: asyncio.Event | None = None

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self.mono + seconds, seconds, fut)
        self._sleepers.append(entry)
        self._event().set()
        try:
            await fut
        finally:
            self._sleepers.remove(entry)

    def sleeping(self) -> list[float]:
        """Durations of the sleeps pending now."""
        return [duration for _, duration, fut in self._sleepers if not fut.done()]

    async def wait_sleeping(self, seconds: float) -> None:
        """Return once something sleeps for exactly `seconds`."""
        await self.wait_until(lambda: seconds in self.sleeping())

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Return once `condition()` holds, checked again each time a sleep begins."""
        await until(condition, self._event(), WAIT)

    def sleeper(self) -> asyncio.Future[None] | None:
        """The first pending sleep, if any (a test tells a new sleep from an old one by it)."""
        return next((fut for _, _, fut in self._sleepers if not fut.done()), None)

    def advance(self, seconds: float) -> None:
        """Move both clocks on and wake every sleep that is due."""
        self.wall += seconds
        self.mono += seconds
        for deadline, _, fut in list(self._sleepers):
            if deadline <= self.mono and not fut.done():
                fut.set_result(None)

    def _event(self) -> asyncio.Event:
        # made on first use: a gateway test builds its clock outside any event loop
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed
