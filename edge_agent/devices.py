"""The small interfaces the session depends on; the real drivers satisfy them structurally.

The session never constructs a driver: app.py builds them from the configuration and tests pass
fakes. The card reader's interface is the driver's own (hardware.card.reader.CardReader), the
clock is common.clock.Clock. Card and finger calls are blocking (the session runs them in an
executor, one thread per device so calls to one device never overlap); the gateway is async;
indicators are quick calls made on the event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Protocol

from protocol.elements import DataElement
from protocol.messages import MatchEvidence, ReaderIdentity
from protocol.outcomes import Outcome


class MatchLike(Protocol):
    """What one 1:1 match of the fingerprint module yields."""

    @property
    def matched(self) -> bool:
        """The live finger matched the template."""
        ...

    @property
    def score(self) -> int:
        """The module's match score."""
        ...


class FingerPort(Protocol):
    """The fingerprint module (hardware.fingerprint.module.FingerprintModule).

    `verify_finger` waits up to `finger_timeout` for a finger, captures it and matches it 1:1
    against `template` on the module. Setting `cancel` ends the wait for a finger early. It
    raises hardware.errors SensorError subclasses (hardware.fingerprint.errors): no finger in
    time, cancelled, a poor image, or a fault of the module or its link.
    """

    def verify_finger(
        self,
        template: bytearray,
        *,
        finger_timeout: float,
        cancel: threading.Event | None = None,
        fresh_press: bool = False,
    ) -> MatchLike:
        """Capture a finger and match it against `template` (blocking)."""
        ...


class GatewayAnswer(Protocol):
    """The gateway's answer as the session sees it (protocol.messages.VerificationResponse)."""

    @property
    def outcome(self) -> Outcome:
        """The outcome, shown to the citizen as it is."""
        ...

    @property
    def elements(self) -> Mapping[DataElement, str]:
        """The permitted data elements (empty unless the data was found)."""
        ...


class GatewayPort(Protocol):
    """The link to the gateway (edge_agent.session.gateway_link.GatewayLink).

    Never raises for network trouble: an unreachable or misbehaving gateway is an answer with
    the SERVICE_UNAVAILABLE outcome. The NIK is a bytearray owned by the session; the link
    turns it into text only to build the request body.
    """

    async def verify(
        self, request_id: str, nik: bytearray, match: MatchEvidence, reader: ReaderIdentity
    ) -> GatewayAnswer:
        """Ask the gateway about one verified citizen."""
        ...


class IndicatorPort(Protocol):
    """LEDs and buzzer (hardware.gpio.Indicators); patterns are names such as 'busy'."""

    def show(self, pattern: str) -> None:
        """Switch to a pattern: idle, busy, success, failure, deactivated, tamper."""
