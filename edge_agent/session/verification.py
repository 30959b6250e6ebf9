"""The verification session: a state machine driven by card events, the devices and a clock.

idle → reading the card (SAM check, read) → waiting for a finger (up to 3 tries; the citizen may
switch between the card's two fingers) → querying the gateway → showing the result → wipe → idle.
A pulled card ends the session at any step; a second card is ignored; every step has a timeout.

The session owns the personal data of one citizen: the card's contents and the returned data
elements, all in bytearrays, overwritten when the session ends whatever the path. What remains is
one count in the outcome counter.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from common.buffers import wipe_all
from common.clock import Clock
from edge_agent.config import TimeoutsConfig
from edge_agent.devices import FingerPort, GatewayPort, MatchLike
from edge_agent.session.counters import OutcomeCounter
from edge_agent.session.screens import Screen, ScreenName, ScreenObserver, TryProblem
from hardware.card.reader import (
    CardContents,
    CardEvent,
    CardEventKind,
    CardReader,
    Finger,
    IdentityField,
)
from hardware.errors import (
    CardError,
    CardNotAuthenticError,
    CardRemovedError,
    NoCardError,
    NoReaderError,
    SamMissingError,
    SamNotAuthorisedError,
    SensorError,
)
from hardware.fingerprint.errors import (
    CaptureFailedError,
    NoFingerError,
    PoorImageError,
    SensorCancelledError,
)
from protocol.elements import DataElement
from protocol.messages import MatchEvidence, ReaderIdentity
from protocol.nik import has_nik_shape
from protocol.outcomes import Outcome

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
_MAX_SCORE = 65535


class SessionState(Enum):
    """Where the kiosk is. The fingerprint module captures and matches in one call, so waiting
    for a finger and matching it are one state."""

    IDLE = "idle"
    READING_CARD = "reading_card"
    WAITING_FINGER = "waiting_finger"
    QUERYING = "querying"
    SHOWING_RESULT = "showing_result"
    DEACTIVATED = "deactivated"


class _Reason(Enum):
    PULLED = "card pulled"
    CANCELLED = "cancelled at the kiosk"
    DEACTIVATED = "kiosk deactivated"


class _Aborted(Exception):
    def __init__(self, reason: _Reason) -> None:
        super().__init__(reason.value)
        self.reason = reason


class _StepTimeout(Exception):
    pass


class _DeviceFault(Exception):
    """A device of the kiosk failed (SAM, reader, fingerprint module): not the citizen's doing."""


@dataclass(frozen=True, slots=True)
class SessionReport:
    """What one session leaves for logs and the bench: no personal data."""

    outcome: Outcome
    request_id: str | None
    tries: int
    total: float  # seconds from the card to idle (perf_counter)
    waited: float  # of which waiting for devices, the gateway, the citizen and timers
    steps: dict[str, float] = field(default_factory=dict)

    @property
    def own(self) -> float:
        """Seconds the agent itself spent (total minus waits)."""
        return max(0.0, self.total - self.waited)


class _Owned:
    """The personal data of one session; `wipe()` overwrites all of it."""

    def __init__(self) -> None:
        self.card: CardContents | None = None
        self.elements: dict[DataElement, bytearray] = {}

    def wipe(self) -> None:
        if self.card is not None:
            self.card.wipe()
            self.card = None
        wipe_all(self.elements)


class Session:
    """The kiosk's verification sessions, one at a time. Call every method on the event loop."""

    def __init__(
        self,
        *,
        card: CardReader,
        finger: FingerPort,
        gateway: GatewayPort,
        reader: ReaderIdentity,
        timeouts: TimeoutsConfig,
        clock: Clock,
        counter: OutcomeCounter | None = None,
        observers: Sequence[ScreenObserver] = (),
        first_finger: Finger = Finger.RIGHT_INDEX,
        max_tries: int = 3,
        on_finished: Callable[[SessionReport], None] | None = None,
    ) -> None:
        self._card = card
        self._finger_port = finger
        self._gateway = gateway
        self._reader = reader
        self._t = timeouts
        self._clock = clock
        self.counter = counter if counter is not None else OutcomeCounter()
        self._observers = list(observers)
        self._first_finger = first_finger
        self._max_tries = max_tries
        self._on_finished = on_finished
        # One thread per device: calls to one device never overlap, even an abandoned one.
        self._card_exec = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="card")
        self._finger_exec = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="finger")
        self._state = SessionState.IDLE
        self._screen = Screen(ScreenName.IDLE)
        self._present: set[str] = set()
        self._deactivated = False
        self._task: asyncio.Task[None] | None = None
        self._abort: asyncio.Future[_Reason] | None = None
        self._session_reader: str | None = None
        self._fingers: tuple[Finger, ...] = ()
        self._finger = first_finger
        self._finger_cancel: threading.Event | None = None
        self._tries = 0
        self._problem: TryProblem | None = None
        self._waited = 0.0
        self._closed = False

    # --- what the outside sees and does ---------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """The current state."""
        return self._state

    @property
    def screen(self) -> Screen:
        """The screen shown now."""
        return self._screen

    @property
    def deactivated(self) -> bool:
        """True while the kiosk refuses sessions."""
        return self._deactivated

    def add_observer(self, observer: ScreenObserver) -> None:
        """Also publish screens to `observer`, starting with the current one."""
        self._observers.append(observer)
        self._notify(observer, self._screen)

    def on_card_event(self, event: CardEvent) -> None:
        """A card came or went (call on the loop; monitor threads use call_soon_threadsafe)."""
        if self._closed:
            return
        if event.kind is CardEventKind.INSERTED:
            self._present.add(event.reader)
            if self._deactivated:
                _log.info("card refused: the kiosk is deactivated")
                self.counter.add(Outcome.DEVICE_DEACTIVATED)
            elif self._task is None:
                self._start(event.reader)
            else:
                _log.info("another card ignored during a session")
            return
        self._present.discard(event.reader)
        if self._task is not None and event.reader == self._session_reader:
            self._abort_with(_Reason.PULLED)
        elif self._task is None and self._state is SessionState.IDLE:
            self._publish(self._idle_screen())

    def select_finger(self, finger: Finger) -> bool:
        """The citizen wants to use `finger` (one of the card's two); False if not now."""
        if self._state is not SessionState.WAITING_FINGER or finger not in self._fingers:
            return False
        if finger is not self._finger:
            _log.info("citizen switched to the %s finger", finger.value)
            self._finger = finger
            if self._finger_cancel is not None:
                self._finger_cancel.set()
            self._publish_finger()
        return True

    def cancel(self) -> bool:
        """The citizen pressed cancel (or closed the result screen); False if nothing to end."""
        if self._task is None:
            return False
        self._abort_with(_Reason.CANCELLED)
        return True

    def deactivate(self) -> None:
        """Refuse sessions and show the deactivated screen; a running session ends, wiped."""
        self._deactivated = True
        if self._task is not None:
            self._abort_with(_Reason.DEACTIVATED)
        else:
            self._set(SessionState.DEACTIVATED, Screen(ScreenName.DEACTIVATED))

    def reactivate(self) -> None:
        """Accept sessions again."""
        self._deactivated = False
        if self._task is None:
            self._set(SessionState.IDLE, self._idle_screen())

    async def close(self) -> None:
        """End any session (wiped), stop accepting events, release the device threads."""
        self._closed = True
        task = self._task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._finger_cancel is not None:
            self._finger_cancel.set()
        self._card_exec.shutdown(wait=False, cancel_futures=True)
        self._finger_exec.shutdown(wait=False, cancel_futures=True)

    # --- one session --------------------------------------------------------------------------

    def _start(self, reader: str) -> None:
        loop = asyncio.get_running_loop()
        self._session_reader = reader
        self._abort = loop.create_future()
        self._task = loop.create_task(self._run(), name="verification-session")

    def _abort_with(self, reason: _Reason) -> None:
        if self._abort is not None and not self._abort.done():
            self._abort.set_result(reason)
        if self._finger_cancel is not None:
            self._finger_cancel.set()

    async def _run(self) -> None:
        started = time.perf_counter()
        self._waited = 0.0
        self._tries = 0
        owned = _Owned()
        outcome: Outcome | None = None
        request_id: list[str] = []
        steps: dict[str, float] = {}
        _log.info("session started")
        ended_by: _Reason | None = None
        try:
            outcome = await self._verify(owned, request_id, steps)
            self._show_result(outcome, owned)
            await self._step(self._clock.sleep(self._t.result_display), None)
        except _Aborted as aborted:
            ended_by = aborted.reason
            _log.info("session ended: %s", aborted.reason.value)
        finally:
            owned.wipe()
            final = outcome
            if final is None:
                deactivated = ended_by is _Reason.DEACTIVATED
                final = Outcome.DEVICE_DEACTIVATED if deactivated else Outcome.CANCELLED
            self.counter.add(final)
            self._end()
            report = SessionReport(
                outcome=final,
                request_id=request_id[0] if request_id else None,
                tries=self._tries,
                total=time.perf_counter() - started,
                waited=self._waited,
                steps=steps,
            )
            _log.info(
                "session done outcome=%s request_id=%s tries=%d total_ms=%.1f own_ms=%.2f",
                final.value,
                report.request_id or "-",
                report.tries,
                report.total * 1000,
                report.own * 1000,
            )
            if self._on_finished is not None:
                try:
                    self._on_finished(report)
                except Exception:
                    _log.exception("session report callback failed")

    def _end(self) -> None:
        self._task = None
        self._abort = None
        self._session_reader = None
        self._fingers = ()
        self._finger_cancel = None
        if self._deactivated:
            self._set(SessionState.DEACTIVATED, Screen(ScreenName.DEACTIVATED))
        else:
            self._set(SessionState.IDLE, self._idle_screen())

    async def _verify(
        self, owned: _Owned, request_id: list[str], steps: dict[str, float]
    ) -> Outcome:
        """Card, finger, query: the outcome to show (_Aborted: end without a result screen)."""
        try:
            t0 = time.perf_counter()
            self._set(SessionState.READING_CARD, Screen(ScreenName.READING))
            contents = await self._read_card()
            owned.card = contents
            steps["card"] = time.perf_counter() - t0
            nik = contents.identity.get(IdentityField.NIK)
            self._fingers = tuple(f for f in Finger if len(contents.templates.get(f, b"")) > 0)
            if nik is None or not has_nik_shape(nik) or not self._fingers:
                _log.warning("card read without a well-formed NIK or any fingerprint template")
                return Outcome.CARD_UNREADABLE

            t0 = time.perf_counter()
            evidence = await self._match_finger(contents)
            steps["finger"] = time.perf_counter() - t0
            if evidence is None:
                return Outcome.FINGER_MISMATCH

            t0 = time.perf_counter()
            self._set(SessionState.QUERYING, Screen(ScreenName.QUERYING))
            request_id.append(uuid.uuid4().hex)
            answer = await self._step(
                self._gateway.verify(request_id[0], nik, evidence, self._reader), self._t.query
            )
            steps["query"] = time.perf_counter() - t0
            if answer.outcome.info.data_returned:
                owned.elements.update(
                    (element, bytearray(value.encode()))
                    for element, value in answer.elements.items()
                )
            return answer.outcome
        except _Outcome as early:
            return early.outcome
        except _StepTimeout:
            _log.info("step timed out in state %s", self._state.value)
            return Outcome.TIMEOUT
        except _DeviceFault as fault:
            _log.error("device fault: %s", fault)
            return Outcome.SERVICE_UNAVAILABLE
        except _Aborted:
            raise
        except Exception:
            _log.exception("session failed unexpectedly in state %s", self._state.value)
            return Outcome.SERVICE_UNAVAILABLE

    async def _read_card(self) -> CardContents:
        work, abandon = self._blocking(self._card_exec, self._card.read, discard=CardContents.wipe)
        try:
            return await self._step(work, self._t.card_read, abandon)
        except (CardRemovedError, NoCardError) as err:
            _log.info("card gone while reading: %s", type(err).__name__)
            raise _Aborted(_Reason.PULLED) from None
        except CardNotAuthenticError:
            _log.warning("card failed mutual authentication with the SAM")
            raise _Outcome(Outcome.CARD_NOT_AUTHENTIC) from None
        except (SamMissingError, SamNotAuthorisedError, NoReaderError) as err:
            raise _DeviceFault(f"card reader or SAM: {type(err).__name__}: {err}") from None
        except CardError as err:
            _log.warning("card unreadable: %s", type(err).__name__)
            raise _Outcome(Outcome.CARD_UNREADABLE) from None

    async def _match_finger(self, contents: CardContents) -> MatchEvidence | None:
        """Up to max_tries tries; None after the last mismatch."""
        self._finger = (
            self._first_finger if self._first_finger in self._fingers else self._fingers[0]
        )
        self._problem = None
        while self._tries < self._max_tries:
            deadline = self._clock.monotonic() + self._t.finger_wait
            self._set(SessionState.WAITING_FINGER, self._finger_screen())
            result: MatchLike | None = None
            while result is None:
                remaining = deadline - self._clock.monotonic()
                if remaining <= 0:
                    raise _StepTimeout
                finger = self._finger
                try:
                    result = await self._try_finger(contents.templates[finger], remaining)
                except SensorCancelledError:
                    if self._finger is finger:
                        raise _DeviceFault(
                            "fingerprint module cancelled a wait by itself"
                        ) from None
                    continue  # the citizen switched fingers: same try, the other template
                except _PoorImage:
                    self._tries += 1
                    _log.info("poor finger image on try %d", self._tries)
                    self._problem = TryProblem.POOR_IMAGE
                    break
            if result is None:
                continue
            self._tries += 1
            if result.matched:
                score = min(max(result.score, 0), _MAX_SCORE)
                _log.info("finger matched on try %d (score %d)", self._tries, score)
                return MatchEvidence(finger.value, score, self._tries)
            _log.info("finger mismatch on try %d (score %d)", self._tries, result.score)
            self._problem = TryProblem.MISMATCH
        return None

    async def _try_finger(self, template: bytearray, remaining: float) -> MatchLike:
        cancel = threading.Event()
        self._finger_cancel = cancel
        fresh_press = self._tries > 0  # a finger left on the sensor is not a new try

        def verify() -> MatchLike:
            return self._finger_port.verify_finger(
                template, finger_timeout=remaining, cancel=cancel, fresh_press=fresh_press
            )

        work, abandon = self._blocking(self._finger_exec, verify, cancel=cancel)
        try:
            return await self._step(work, remaining, abandon)
        except NoFingerError:
            raise _StepTimeout from None  # the module's own wait for a finger ran out
        except (PoorImageError, CaptureFailedError):
            raise _PoorImage from None
        except SensorCancelledError:
            raise
        except SensorError as err:
            raise _DeviceFault(f"fingerprint module: {type(err).__name__}: {err}") from None
        finally:
            self._finger_cancel = None

    # --- waiting ------------------------------------------------------------------------------

    def _blocking(
        self,
        executor: concurrent.futures.ThreadPoolExecutor,
        fn: Callable[[], _T],
        *,
        discard: Callable[[_T], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> tuple[asyncio.Future[_T], Callable[[], None]]:
        """Run `fn` on a device thread; the second value abandons it (its late result discarded)."""
        cf = executor.submit(fn)

        def late(done: concurrent.futures.Future[_T]) -> None:
            if done.cancelled() or done.exception() is not None:
                return
            if discard is not None:
                discard(done.result())

        def abandon() -> None:
            if cancel is not None:
                cancel.set()
            cf.add_done_callback(late)  # runs on the device thread, or at once if already done

        return asyncio.wrap_future(cf), abandon

    async def _step(
        self,
        work: Awaitable[_T],
        timeout: float | None,
        abandon: Callable[[], None] | None = None,
    ) -> _T:
        """Await `work`, unless the step times out (clock) or the session is aborted first."""
        assert self._abort is not None
        fut = asyncio.ensure_future(work)
        waiters: set[asyncio.Future[Any]] = {fut, self._abort}
        sleeper = None
        if timeout is not None:
            sleeper = asyncio.ensure_future(self._clock.sleep(timeout))
            waiters.add(sleeper)
        t0 = time.perf_counter()
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            self._give_up(fut, abandon)
            raise
        finally:
            self._waited += time.perf_counter() - t0
            if sleeper is not None:
                sleeper.cancel()
        if self._abort in done:  # an abort wins over work that finished in the same turn
            self._give_up(fut, abandon)
            raise _Aborted(self._abort.result())
        if fut in done:
            return fut.result()
        self._give_up(fut, abandon)
        raise _StepTimeout

    @staticmethod
    def _give_up(fut: asyncio.Future[_T], abandon: Callable[[], None] | None) -> None:
        if abandon is not None:
            abandon()
            fut.add_done_callback(_retrieve)
        else:
            fut.cancel()

    # --- screens ------------------------------------------------------------------------------

    def _set(self, state: SessionState, screen: Screen) -> None:
        self._state = state
        self._publish(screen)

    def _publish(self, screen: Screen) -> None:
        self._screen = screen
        for observer in self._observers:
            self._notify(observer, screen)

    @staticmethod
    def _notify(observer: ScreenObserver, screen: Screen) -> None:
        try:
            observer.show(screen)
        except Exception:
            _log.exception("screen observer %s failed", type(observer).__name__)

    def _idle_screen(self) -> Screen:
        return Screen(ScreenName.IDLE, card_present=bool(self._present))

    def _finger_screen(self) -> Screen:
        return Screen(
            ScreenName.FINGER,
            finger=self._finger,
            fingers=self._fingers,
            tries_left=self._max_tries - self._tries,
            problem=self._problem,
        )

    def _publish_finger(self) -> None:
        self._publish(self._finger_screen())

    def _show_result(self, outcome: Outcome, owned: _Owned) -> None:
        _log.info("showing outcome %s", outcome.value)
        self._set(
            SessionState.SHOWING_RESULT,
            Screen(
                ScreenName.RESULT,
                outcome=outcome,
                seconds=self._t.result_display,
                elements=owned.elements,
            ),
        )


class _Outcome(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.value)
        self.outcome = outcome


class _PoorImage(Exception):
    pass


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()
