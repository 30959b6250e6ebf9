"""CPython stand-in for MicroPython's utime: ticks that wrap at 2**30 like the RP2040 port's."""

from __future__ import annotations

import time as _time

TICKS_PERIOD = 1 << 30
_TICKS_MAX = TICKS_PERIOD - 1
_TICKS_HALF = TICKS_PERIOD // 2


def ticks_ms() -> int:
    """Milliseconds on a wrapping monotonic counter."""
    return (_time.monotonic_ns() // 1_000_000) & _TICKS_MAX


def ticks_us() -> int:
    """Microseconds on a wrapping monotonic counter."""
    return (_time.monotonic_ns() // 1_000) & _TICKS_MAX


def ticks_add(ticks: int, delta: int) -> int:
    """ticks moved by delta, wrapped."""
    return (ticks + delta) & _TICKS_MAX


def ticks_diff(end: int, start: int) -> int:
    """Signed difference end - start of two wrapped tick values."""
    return ((end - start + _TICKS_HALF) & _TICKS_MAX) - _TICKS_HALF


def sleep_ms(ms: int) -> None:
    """Sleep ms milliseconds."""
    _time.sleep(max(ms, 0) / 1000)


def sleep_us(us: int) -> None:
    """Sleep us microseconds."""
    _time.sleep(max(us, 0) / 1_000_000)


def sleep(seconds: float) -> None:
    """Sleep seconds."""
    _time.sleep(max(seconds, 0))


def time() -> int:
    """Seconds since the epoch."""
    return int(_time.time())


def time_ns() -> int:
    """Nanoseconds since the epoch."""
    return _time.time_ns()
