"""`Enforcer`: the kiosk follows its remote state.

Deactivated or tampered: refuse sessions and show the deactivated screen (the session's observers
switch the LEDs to red); otherwise take sessions again.
"""

from __future__ import annotations

import logging
from typing import Protocol

from edge_agent.devices import IndicatorPort
from edge_agent.session.screens import Screen, ScreenName
from edge_agent.uplink.statefile import RemoteState

_log = logging.getLogger(__name__)


class SessionControl(Protocol):
    """What the enforcer needs of the session (edge_agent.session.verification.Session)."""

    def deactivate(self) -> None:
        """Refuse sessions; end a running one."""

    def reactivate(self) -> None:
        """Take sessions again."""


class Enforcer:
    """Makes the kiosk follow its remote state. Also a screen observer (registered after the
    LEDs' own): while tampered, the deactivated screen shows the tamper pattern."""

    def __init__(self, session: SessionControl, indicators: IndicatorPort | None = None) -> None:
        self._session = session
        self._indicators = indicators
        self._tampered = False
        add_observer = getattr(session, "add_observer", None)
        if callable(add_observer):
            add_observer(self)

    def apply(self, state: RemoteState) -> None:
        """Deactivated or tampered: refuse sessions (deactivated screen, red LED); else take."""
        self._tampered = state.tampered
        if state.refuses_sessions:
            self._session.deactivate()
            if state.tampered:
                self._tamper_pattern()
        else:
            self._session.reactivate()

    def show(self, screen: Screen) -> None:
        """A new screen: keep the tamper pattern on the deactivated screen of a tampered kiosk."""
        if self._tampered and screen.name is ScreenName.DEACTIVATED:
            self._tamper_pattern()

    def _tamper_pattern(self) -> None:
        if self._indicators is None:
            return
        try:
            self._indicators.show("tamper")
        except Exception as err:
            _log.warning("cannot show the tamper pattern: %s", type(err).__name__)
