"""The one clock: the real one satisfies the interface, the local day per zone."""

from __future__ import annotations

import asyncio
import datetime as dt

from common.clock import Clock, SystemClock, local_day
from tests.clock import FakeClock

MIDNIGHT_UTC = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()


async def test_the_system_clock_sleeps_and_tells_both_times() -> None:
    clock: Clock = SystemClock()
    before = clock.monotonic()
    await clock.sleep(0)
    assert clock.monotonic() >= before
    assert abs(clock.time() - dt.datetime.now(dt.UTC).timestamp()) < 5


async def test_the_fake_clock_wakes_sleepers_when_moved() -> None:
    clock = FakeClock()
    sleeper = asyncio.ensure_future(clock.sleep(10))
    await clock.wait_sleeping(10)
    clock.advance(9.5)
    assert not sleeper.done()
    clock.advance(0.5)
    await asyncio.wait_for(sleeper, 5)


def test_local_day_turns_at_each_zones_midnight() -> None:
    for hours in (7, 8, 9):
        turn = MIDNIGHT_UTC - hours * 3600  # local midnight of 1 January
        assert local_day(turn - 0.001, hours) == "2025-12-31"
        assert local_day(turn, hours) == "2026-01-01"
        assert local_day(turn + 86399.999, hours) == "2026-01-01"
        assert local_day(turn + 86400, hours) == "2026-01-02"
        assert local_day(turn - 1, hours) == "2025-12-31"  # back again: the cache follows


def test_local_day_agrees_with_datetime_over_a_year() -> None:
    for step in range(0, 366 * 86400, 3 * 3600 + 7):
        wall = MIDNIGHT_UTC + step
        for hours in (7, 8, 9):
            zone = dt.timezone(dt.timedelta(hours=hours))
            assert (
                local_day(wall, hours) == dt.datetime.fromtimestamp(wall, zone).date().isoformat()
            )
