"""The one clock interface of every process, the real clock, and the local calendar day.

Code takes a `Clock` and never calls `time` or `asyncio.sleep` for what a test must drive: the
tests pass a clock they move by hand (tests/clock.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from time import monotonic as _monotonic
from time import time as _wall
from typing import Protocol

DAY_SECONDS = 86400


class Clock(Protocol):
    """Wall time (calendar days, timestamps), monotonic time (timeouts, windows) and sleep."""

    def time(self) -> float:
        """Seconds since the epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start, never going back."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after `seconds` of monotonic time."""
        ...


class SystemClock:
    """time.time, time.monotonic and asyncio.sleep."""

    time = staticmethod(_wall)
    monotonic = staticmethod(_monotonic)

    async def sleep(self, seconds: float) -> None:
        """Return after `seconds`."""
        await asyncio.sleep(seconds)


_DAYS: dict[int, tuple[float, float, str]] = {}


def local_day(wall: float, utc_offset_h: int) -> str:
    """The calendar day (YYYY-MM-DD) at `wall` in a zone `utc_offset_h` hours east of UTC."""
    offset = utc_offset_h * 3600
    cached = _DAYS.get(offset)  # the day of the last call per zone: a hot path in the gateway
    if cached is not None and cached[0] <= wall < cached[1]:
        return cached[2]
    local = int(wall) + offset
    start = local - local % DAY_SECONDS - offset
    day = dt.datetime.fromtimestamp(local, dt.UTC).date().isoformat()
    _DAYS[offset] = (float(start), float(start + DAY_SECONDS), day)
    return day
