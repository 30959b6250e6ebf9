"""What the kiosk shows: one Screen per step and outcome, published by the session to observers.

A Screen carries only non-personal parameters, except the result screen of a found record,
which refers to the session's own element buffers (bytearrays wiped at the end of the session).
They become text only when a message for the page is built.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from hardware.card.reader import Finger
from protocol.elements import DataElement
from protocol.outcomes import Outcome

if TYPE_CHECKING:
    from edge_agent.session.balikan import BalikanResult

_log = logging.getLogger(__name__)


class ScreenName(Enum):
    """Every screen of the kiosk page."""

    IDLE = "idle"
    NOTICE = "notice"  # the privacy notice, accepted by a touch before the card is read
    READING = "reading"
    FINGER = "finger"
    QUERYING = "querying"
    RESULT = "result"
    DEACTIVATED = "deactivated"


class TryProblem(Enum):
    """Why the last finger try failed (shown on the finger screen)."""

    MISMATCH = "mismatch"
    POOR_IMAGE = "poor_image"


class OutcomeFamily(Enum):
    """How an outcome looks on the page: one icon and one colour per family."""

    FOUND = "found"
    CAVEAT = "caveat"  # found, with something the citizen must act on
    NOT_FOUND = "not_found"
    REFUSED = "refused"  # the kiosk or the platform will not answer (rules, checks)
    FAULT = "fault"  # something failed or ran out: try again


_FAMILIES: dict[Outcome, OutcomeFamily] = {
    Outcome.FOUND: OutcomeFamily.FOUND,
    Outcome.FOUND_DECEASED: OutcomeFamily.CAVEAT,
    Outcome.FOUND_DUPLICATE: OutcomeFamily.CAVEAT,
    Outcome.FOUND_INACTIVE: OutcomeFamily.CAVEAT,
    Outcome.NOT_FOUND: OutcomeFamily.NOT_FOUND,
    Outcome.INVALID_NIK_FORMAT: OutcomeFamily.NOT_FOUND,
    Outcome.LOGIN_FAILED: OutcomeFamily.REFUSED,
    Outcome.QUOTA_EXHAUSTED: OutcomeFamily.REFUSED,
    Outcome.INSTITUTION_INACTIVE: OutcomeFamily.REFUSED,
    Outcome.USER_INACTIVE: OutcomeFamily.REFUSED,
    Outcome.PATTERN_BLOCKED: OutcomeFamily.REFUSED,
    Outcome.DEVICE_DEACTIVATED: OutcomeFamily.REFUSED,
    Outcome.CARD_NOT_AUTHENTIC: OutcomeFamily.REFUSED,
    Outcome.FINGER_MISMATCH: OutcomeFamily.REFUSED,
    Outcome.CARD_UNREADABLE: OutcomeFamily.FAULT,
    Outcome.SERVICE_UNAVAILABLE: OutcomeFamily.FAULT,
    Outcome.TIMEOUT: OutcomeFamily.FAULT,
    Outcome.CANCELLED: OutcomeFamily.FAULT,
    Outcome.STORAGE_FAILURE: OutcomeFamily.FAULT,
}


def family_of(outcome: Outcome) -> OutcomeFamily:
    """The family (icon and colour) an outcome is shown with."""
    return _FAMILIES[outcome]


class SessionState(Enum):
    """Where the kiosk is. The fingerprint module captures and matches in one call, so waiting
    for a finger and matching it are one state."""

    IDLE = "idle"
    NOTICE = "notice"
    READING_CARD = "reading_card"
    WAITING_FINGER = "waiting_finger"
    QUERYING = "querying"
    SHOWING_RESULT = "showing_result"
    DEACTIVATED = "deactivated"


@dataclass(frozen=True, eq=False)
class Screen:
    """One state of the page. `elements` is set only on the result screen of a found record;
    `seconds` is how long the step may wait (the page counts it down); `problem` on a result is
    the last finger try's."""

    name: ScreenName
    outcome: Outcome | None = None
    finger: Finger | None = None
    fingers: tuple[Finger, ...] = ()
    tries_left: int = 0
    problem: TryProblem | None = None
    card_present: bool = False
    seconds: float = 0.0
    elements: Mapping[DataElement, bytearray] = field(default_factory=dict)
    balikan: BalikanResult | None = None  # data balikan, on the result screen of a found record
    result_id: str | None = None  # the count behind a result screen (the page may see it twice)

    def to_message(self) -> dict[str, Any]:
        """The JSON message for the page (elements decoded here, nowhere else)."""
        msg: dict[str, Any] = {"screen": self.name.value}
        if self.name in _WAITING:
            msg["seconds"] = round(self.seconds, 1)
        if self.name is ScreenName.IDLE:
            msg["card_present"] = self.card_present
        elif self.name is ScreenName.FINGER:
            assert self.finger is not None
            msg["finger"] = self.finger.value
            msg["fingers"] = [f.value for f in self.fingers]
            msg["tries_left"] = self.tries_left
            msg["problem"] = self.problem.value if self.problem else None
        elif self.name in (ScreenName.RESULT, ScreenName.DEACTIVATED):
            outcome = self.outcome or Outcome.DEVICE_DEACTIVATED
            info = outcome.info
            msg["outcome"] = outcome.value
            msg["text"] = {"id": info.text_id, "en": info.text_en}
            msg["hint"] = {"id": info.hint_id, "en": info.hint_en}
            msg["success"] = info.data_returned
            msg["family"] = family_of(outcome).value
            if self.name is ScreenName.RESULT:
                msg["problem"] = self.problem.value if self.problem else None
                msg["elements"] = [
                    [e.value, self.elements[e].decode("utf-8", "replace")]
                    for e in DataElement
                    if e in self.elements
                ]
                if self.balikan is not None:
                    msg["balikan"] = self.balikan.to_message()
                if self.result_id is not None:
                    msg["result_id"] = self.result_id
        return msg

    def __repr__(self) -> str:
        outcome = self.outcome.value if self.outcome else None
        return f"Screen({self.name.value}, outcome={outcome}, elements=<{len(self.elements)}>)"


_WAITING = (
    ScreenName.NOTICE,
    ScreenName.READING,
    ScreenName.FINGER,
    ScreenName.QUERYING,
    ScreenName.RESULT,
)


class ScreenObserver(Protocol):
    """Receives every screen the session shows (the UI server, the indicators)."""

    def show(self, screen: Screen) -> None:
        """Called on the event loop, in order; must not block."""


class ScreenPublisher:
    """The screen shown now, published in order to every observer; a failing observer is logged."""

    def __init__(self, observers: Sequence[ScreenObserver] = ()) -> None:
        self._observers = list(observers)
        self.current = Screen(ScreenName.IDLE)

    def add(self, observer: ScreenObserver) -> None:
        """Also publish to `observer`, starting with the current screen."""
        self._observers.append(observer)
        self._notify(observer, self.current)

    def publish(self, screen: Screen) -> None:
        """Show `screen` now."""
        self.current = screen
        for observer in self._observers:
            self._notify(observer, screen)

    @staticmethod
    def _notify(observer: ScreenObserver, screen: Screen) -> None:
        try:
            observer.show(screen)
        except Exception:
            _log.exception("screen observer %s failed", type(observer).__name__)
