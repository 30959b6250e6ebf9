"""The finger step of a verification session: up to `max_tries` tries on the card's fingers.

While the module waits for a finger the citizen may switch between the card's two fingers: the
wait is cancelled and the same try goes on with the other template. A poor image counts as a
try; a match ends the step with the evidence for the gateway.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable

from common.clock import Clock
from edge_agent.devices import FingerPort, MatchLike
from edge_agent.session.screens import Screen, ScreenName, TryProblem
from edge_agent.session.steps import DeviceFault, StepTimeout, StepWaiter, on_device_thread
from hardware.card.reader import CardContents, Finger
from hardware.errors import SensorError
from hardware.fingerprint.errors import (
    CaptureFailedError,
    NoFingerError,
    PoorImageError,
    SensorCancelledError,
)
from protocol.messages import MatchEvidence

_log = logging.getLogger(__name__)
_MAX_SCORE = 65535


class _PoorImage(Exception):
    pass


class FingerStep:
    """The finger tries of one session at a time; `show` publishes each finger screen."""

    def __init__(
        self,
        port: FingerPort,
        waiter: StepWaiter,
        clock: Clock,
        show: Callable[[Screen], None],
        *,
        finger_wait: float,
        first_finger: Finger = Finger.RIGHT_INDEX,
        max_tries: int = 3,
    ) -> None:
        self._port = port
        self._waiter = waiter
        self._clock = clock
        self._show = show
        self._finger_wait = finger_wait
        self._first_finger = first_finger
        self._max_tries = max_tries
        # One thread for the module: calls to it never overlap, even an abandoned one.
        self._exec = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="finger")
        self.fingers: tuple[Finger, ...] = ()  # the card's fingers with a template
        self.finger = first_finger  # the finger asked for now
        self.tries = 0
        self._problem: TryProblem | None = None
        self._cancel: threading.Event | None = None
        self._deadline = 0.0  # of the current try, on the clock

    def start(self) -> None:
        """A new session: no tries yet."""
        self.tries = 0
        self._problem = None

    @property
    def problem(self) -> TryProblem | None:
        """Why the last try failed (None: no failed try)."""
        return self._problem

    def use_card(self, contents: CardContents) -> tuple[Finger, ...]:
        """Take the card's fingers that carry a template (none: the card is unusable)."""
        self.fingers = tuple(f for f in Finger if len(contents.templates.get(f, b"")) > 0)
        return self.fingers

    def end(self) -> None:
        """The session is over: no fingers to offer."""
        self.fingers = ()
        self._cancel = None

    def select(self, finger: Finger) -> bool:
        """The citizen wants to use `finger`; False if the card has no template for it."""
        if finger not in self.fingers:
            return False
        if finger is not self.finger:
            _log.info("citizen switched to the %s finger", finger.value)
            self.finger = finger
            self.interrupt()
            self._show(self.screen())
        return True

    def interrupt(self) -> None:
        """End the module's current wait for a finger, if any."""
        if self._cancel is not None:
            self._cancel.set()

    def close(self) -> None:
        """End any wait and release the module's thread."""
        self.interrupt()
        self._exec.shutdown(wait=False, cancel_futures=True)

    def screen(self) -> Screen:
        """The finger screen as things stand."""
        return Screen(
            ScreenName.FINGER,
            finger=self.finger,
            fingers=self.fingers,
            tries_left=self._max_tries - self.tries,
            problem=self._problem,
            seconds=max(self._deadline - self._clock.monotonic(), 0.0),
        )

    async def match(self, contents: CardContents) -> MatchEvidence | None:
        """Up to max_tries tries; None after the last mismatch."""
        self.finger = self._first_finger if self._first_finger in self.fingers else self.fingers[0]
        self._problem = None
        while self.tries < self._max_tries:
            deadline = self._clock.monotonic() + self._finger_wait
            self._deadline = deadline
            self._show(self.screen())
            result: MatchLike | None = None
            while result is None:
                remaining = deadline - self._clock.monotonic()
                if remaining <= 0:
                    raise StepTimeout
                finger = self.finger
                try:
                    result = await self._try(contents.templates[finger], remaining)
                except SensorCancelledError:
                    if self.finger is finger:
                        raise DeviceFault("fingerprint module cancelled a wait by itself") from None
                    continue  # the citizen switched fingers: same try, the other template
                except _PoorImage:
                    self.tries += 1
                    _log.info("poor finger image on try %d", self.tries)
                    self._problem = TryProblem.POOR_IMAGE
                    break
            if result is None:
                continue
            self.tries += 1
            if result.matched:
                score = min(max(result.score, 0), _MAX_SCORE)
                _log.info("finger matched on try %d (score %d)", self.tries, score)
                return MatchEvidence(finger.value, score, self.tries)
            _log.info("finger mismatch on try %d (score %d)", self.tries, result.score)
            self._problem = TryProblem.MISMATCH
        return None

    async def _try(self, template: bytearray, remaining: float) -> MatchLike:
        cancel = threading.Event()
        self._cancel = cancel
        fresh_press = self.tries > 0  # a finger left on the sensor is not a new try

        def verify() -> MatchLike:
            return self._port.verify_finger(
                template, finger_timeout=remaining, cancel=cancel, fresh_press=fresh_press
            )

        work, abandon = on_device_thread(self._exec, verify, cancel=cancel)
        try:
            return await self._waiter.step(work, remaining, abandon)
        except NoFingerError:
            raise StepTimeout from None  # the module's own wait for a finger ran out
        except (PoorImageError, CaptureFailedError):
            raise _PoorImage from None
        except SensorCancelledError:
            raise
        except SensorError as err:
            raise DeviceFault(f"fingerprint module: {type(err).__name__}: {err}") from None
        finally:
            self._cancel = None
