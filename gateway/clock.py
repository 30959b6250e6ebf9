"""Time sources, injectable so tests can move the quota day and the sliding windows."""

from __future__ import annotations

import datetime as dt
from time import monotonic as _monotonic
from time import time as _wall
from typing import Protocol

from protocol.regions import utc_offset_hours


class Clock(Protocol):
    """Wall time (the quota's local day) and monotonic time (windows, TTLs), in seconds."""

    def time(self) -> float:
        """Seconds since the epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...


class SystemClock:
    """The real clocks."""

    time = staticmethod(_wall)
    monotonic = staticmethod(_monotonic)


_DAYS: dict[int, tuple[float, float, str]] = {}


def local_day(wall: float, province: str) -> str:
    """The calendar day (YYYY-MM-DD) in the province's time zone (WIB, WITA or WIT)."""
    offset = utc_offset_hours(province) * 3600
    cached = _DAYS.get(offset)
    if cached is not None and cached[0] <= wall < cached[1]:
        return cached[2]
    local = int(wall) + offset
    start = local - local % 86400 - offset
    day = dt.datetime.fromtimestamp(local, dt.UTC).date().isoformat()
    _DAYS[offset] = (float(start), float(start + 86400), day)
    return day
