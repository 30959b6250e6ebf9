"""The real clock of the agent (tests use their own, driven by hand)."""

from __future__ import annotations

import asyncio
import time


class SystemClock:
    """time.monotonic and asyncio.sleep."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary start, never going back."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Return after `seconds`."""
        await asyncio.sleep(seconds)
