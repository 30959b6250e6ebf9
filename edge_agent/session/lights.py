"""Lights and sound follow the screens: a ScreenObserver that drives an IndicatorPort."""

from __future__ import annotations

import logging
from typing import Any

from edge_agent.devices import IndicatorPort
from edge_agent.session.screens import Screen, ScreenName

_log = logging.getLogger(__name__)

_PATTERNS = {
    ScreenName.IDLE: "idle",
    ScreenName.NOTICE: "busy",
    ScreenName.READING: "busy",
    ScreenName.FINGER: "busy",
    ScreenName.QUERYING: "busy",
    ScreenName.DEACTIVATED: "deactivated",
}


def pattern_for(screen: Screen) -> str:
    """The indicator pattern of a screen: success when data came back, failure otherwise."""
    if screen.name is ScreenName.RESULT:
        ok = screen.outcome is not None and screen.outcome.info.data_returned
        return "success" if ok else "failure"
    return _PATTERNS[screen.name]


class IndicatorObserver:
    """Shows the pattern of every new screen; a failing LED never stops a session."""

    def __init__(self, port: IndicatorPort) -> None:
        self._port = port
        self._last: str | None = None

    def show(self, screen: Screen) -> None:
        """Switch the indicators when the pattern changes."""
        pattern = pattern_for(screen)
        if pattern == self._last:
            return
        try:
            self._port.show(pattern)
        except Exception as err:
            _log.warning("indicators failed to show %s: %s", pattern, type(err).__name__)
            return
        self._last = pattern


class PatternNames:
    """Adapts hardware.gpio.Indicators (which takes its Pattern enum) to IndicatorPort."""

    def __init__(self, indicators: Any, pattern_type: Any) -> None:
        self._indicators = indicators
        self._pattern = pattern_type

    def show(self, pattern: str) -> None:
        """Show the named pattern."""
        self._indicators.show(self._pattern(pattern))

    def close(self) -> None:
        """Release the pins."""
        close = getattr(self._indicators, "close", None)
        if callable(close):
            close()


class NoIndicators:
    """For kiosks (and runs) without GPIO indicators."""

    def show(self, pattern: str) -> None:
        """Do nothing."""
