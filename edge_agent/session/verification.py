"""The verification session: a state machine driven by card events, the devices and a clock.

idle → the privacy notice, accepted by a touch (when the kiosk has a page) → reading the card
(SAM check, read) → waiting for a finger (up to 3 tries; the citizen may switch between the
card's two fingers) → querying the gateway → showing the result → wipe → idle.
A pulled card ends the session at any step; a second card is ignored; every step has a timeout.

The session owns the personal data of one citizen: the card's contents and the returned data
elements, all in bytearrays (`citizen_data`), overwritten when the session ends whatever the
path. What remains is one count in the outcome counter and a `SessionReport`.

The finger tries are `finger_step`, the card read `card_step`; how a step waits, times out or
is aborted is `steps`; a result counted but never shown before a restart is `restored`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Sequence

from common.clock import Clock
from edge_agent.config import TimeoutsConfig
from edge_agent.devices import FingerPort, GatewayPort
from edge_agent.session.balikan import Balikan
from edge_agent.session.card_step import read_card
from edge_agent.session.citizen_data import CitizenData
from edge_agent.session.counters import OutcomeCounter, count_before_showing
from edge_agent.session.finger_step import FingerStep
from edge_agent.session.report import SessionReport
from edge_agent.session.restored import RestoredResult
from edge_agent.session.screens import (
    Screen,
    ScreenName,
    ScreenObserver,
    ScreenPublisher,
    SessionState,
)
from edge_agent.session.steps import (
    Aborted,
    DeviceFault,
    EarlyOutcome,
    Reason,
    StepTimeout,
    StepWaiter,
)
from hardware.card.reader import (
    CardEvent,
    CardEventKind,
    CardReader,
    Finger,
    IdentityField,
)
from protocol.messages import REPLAY_KEY_BYTES, ReaderIdentity
from protocol.nik import has_nik_shape
from protocol.outcomes import Outcome

__all__ = ["Session", "SessionState"]
_log = logging.getLogger(__name__)


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
        notice_wait: float | None = None,
        balikan: Balikan | None = None,
    ) -> None:
        self._card = card
        self._balikan = balikan  # data balikan after FOUND, when configured
        self._gateway = gateway
        self._reader = reader
        self._t = timeouts
        self._clock = clock
        self.counter = counter if counter is not None else OutcomeCounter()
        self._screens = ScreenPublisher(observers)
        self._on_finished = on_finished
        self._notice_wait = notice_wait  # None: no privacy notice (no page to accept it on)
        self._accepted = asyncio.Event()
        # One thread for the reader: calls to it never overlap, even an abandoned one.
        self._card_exec = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="card")
        self._state = SessionState.IDLE
        self._present: set[str] = set()
        self._deactivated = False
        self._storage_ok = True
        self._task: asyncio.Task[None] | None = None
        self._waiter = StepWaiter(clock)
        self._finger_step = FingerStep(
            finger,
            self._waiter,
            clock,
            self._show_finger,
            finger_wait=timeouts.finger_wait,
            first_finger=first_finger,
            max_tries=max_tries,
        )
        self._session_reader: str | None = None
        self._closed = False
        self._restored = RestoredResult(clock, timeouts.result_display)

    # --- what the outside sees and does ---------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """The current state."""
        return self._state

    @property
    def screen(self) -> Screen:
        """The screen shown now."""
        return self._screens.current

    @property
    def deactivated(self) -> bool:
        """True while the kiosk refuses sessions."""
        return self._deactivated

    def add_observer(self, observer: ScreenObserver) -> None:
        """Also publish screens to `observer`, starting with the current one."""
        self._screens.add(observer)

    def on_card_event(self, event: CardEvent) -> None:
        """A card came or went (call on the loop; monitor threads use call_soon_threadsafe)."""
        if self._closed:
            return
        if event.kind is CardEventKind.INSERTED:
            self._present.add(event.reader)
            if self._deactivated:
                _log.info("card refused: the kiosk is deactivated")
                count_before_showing(self.counter, Outcome.DEVICE_DEACTIVATED, shown=False)
            elif not self._storage_ok and self._task is None:
                _log.info("card refused: the state folder cannot be written")
                self._publish(Screen(ScreenName.RESULT, outcome=Outcome.STORAGE_FAILURE))
            elif self._task is None:
                self._start(event.reader)
            else:
                _log.info("another card ignored during a session")
            return
        self._present.discard(event.reader)
        if self._task is not None and event.reader == self._session_reader:
            self._abort_with(Reason.PULLED)
        elif self._task is None and self._state is SessionState.IDLE:
            self._publish(self._idle_screen())

    def select_finger(self, finger: Finger) -> bool:
        """The citizen wants to use `finger` (one of the card's two); False if not now."""
        if self._state is not SessionState.WAITING_FINGER:
            return False
        return self._finger_step.select(finger)

    def accept_notice(self) -> bool:
        """The citizen accepted the privacy notice; False if none is shown now."""
        if self._state is not SessionState.NOTICE:
            return False
        self._accepted.set()
        return True

    def cancel(self) -> bool:
        """The citizen pressed cancel (or closed the result screen); False if nothing to end."""
        if self._task is None:
            return False
        self._abort_with(Reason.CANCELLED)
        return True

    def deactivate(self) -> None:
        """Refuse sessions and show the deactivated screen; a running session ends, wiped."""
        self._deactivated = True
        if self._task is not None:
            self._abort_with(Reason.DEACTIVATED)
        else:
            self._set(SessionState.DEACTIVATED, Screen(ScreenName.DEACTIVATED))

    def set_storage(self, ok: bool) -> None:
        """The state folder can (True) or cannot be written: refuse new sessions while not."""
        self._storage_ok = ok

    @property
    def storage_ok(self) -> bool:
        """False while new sessions are refused because nothing could be counted."""
        return self._storage_ok

    def reactivate(self) -> None:
        """Accept sessions again."""
        self._deactivated = False
        if self._task is None:
            self._set(SessionState.IDLE, self._idle_screen())

    def reshow_unshown(self) -> None:
        """Show the result counted before a restart that never reached the page (if any)."""
        if self._deactivated or self._task is not None:
            return
        screen = self._restored.screen(self.counter)
        if screen is not None:
            self._set(SessionState.SHOWING_RESULT, screen)

    def result_delivered(self, result_id: str) -> None:
        """The page has the result screen `result_id`."""
        self._restored.delivered(self.counter, result_id, self._end_restored)

    def _end_restored(self) -> None:
        if self._task is None and self._state is SessionState.SHOWING_RESULT:
            self._set(SessionState.IDLE, self._idle_screen())

    async def close(self) -> None:
        """End any session (wiped), stop accepting events, release the device threads."""
        self._closed = True
        await self._restored.close()
        task = self._task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._finger_step.close()
        self._card_exec.shutdown(wait=False, cancel_futures=True)

    # --- one session --------------------------------------------------------------------------

    def _start(self, reader: str) -> None:
        self._session_reader = reader
        self._waiter.begin()
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="verification-session"
        )

    def _abort_with(self, reason: Reason) -> None:
        self._waiter.abort(reason)
        self._finger_step.interrupt()

    async def _run(self) -> None:
        started = time.perf_counter()
        self._finger_step.start()
        owned = CitizenData()
        outcome: Outcome | None = None
        request_id: list[str] = []
        steps: dict[str, float] = {}
        _log.info("session started")
        ended_by: Reason | None = None
        counted = False
        try:
            outcome = await self._verify(owned, request_id, steps)
            # counted (durably, in the outbox) before the citizen can see it
            counted = True
            done = count_before_showing(self.counter, outcome)
            outcome = done.outcome
            if outcome is Outcome.STORAGE_FAILURE:
                owned.wipe()
            elif self._balikan is not None and outcome is Outcome.FOUND:
                owned.balikan = await self._waiter.step(self._balikan.run(owned), None)
            self._show_result(outcome, owned, done.result_id)
            await self._waiter.step(self._clock.sleep(self._t.result_display), None)
        except Aborted as aborted:
            ended_by = aborted.reason
            _log.info("session ended: %s", aborted.reason.value)
        finally:
            owned.wipe()
            final = outcome
            if final is None:
                deactivated = ended_by is Reason.DEACTIVATED
                final = Outcome.DEVICE_DEACTIVATED if deactivated else Outcome.CANCELLED
            if not counted:
                count_before_showing(self.counter, final, shown=False)
            self._end()
            report = SessionReport(
                outcome=final,
                request_id=request_id[0] if request_id else None,
                tries=self._finger_step.tries,
                total=time.perf_counter() - started,
                waited=self._waiter.waited,
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
        self._waiter.end()
        self._session_reader = None
        self._finger_step.end()
        if self._deactivated:
            self._set(SessionState.DEACTIVATED, Screen(ScreenName.DEACTIVATED))
        else:
            self._set(SessionState.IDLE, self._idle_screen())

    async def _verify(
        self, owned: CitizenData, request_id: list[str], steps: dict[str, float]
    ) -> Outcome:
        """Card, finger, query: the outcome to show (Aborted: end without a result screen)."""
        try:
            if self._notice_wait is not None:
                self._accepted.clear()
                self._set(SessionState.NOTICE, Screen(ScreenName.NOTICE, seconds=self._notice_wait))
                await self._waiter.step(self._accepted.wait(), self._notice_wait)
            t0 = time.perf_counter()
            self._set(
                SessionState.READING_CARD, Screen(ScreenName.READING, seconds=self._t.card_read)
            )
            contents = await read_card(self._waiter, self._card_exec, self._card, self._t.card_read)
            owned.card = contents
            steps["card"] = time.perf_counter() - t0
            nik = contents.identity.get(IdentityField.NIK)
            fingers = self._finger_step.use_card(contents)
            if nik is None or not has_nik_shape(nik) or not fingers:
                _log.warning("card read without a well-formed NIK or any fingerprint template")
                return Outcome.CARD_UNREADABLE

            t0 = time.perf_counter()
            evidence = await self._finger_step.match(contents)
            steps["finger"] = time.perf_counter() - t0
            if evidence is None:
                return Outcome.FINGER_MISMATCH

            t0 = time.perf_counter()
            self._set(SessionState.QUERYING, Screen(ScreenName.QUERYING, seconds=self._t.query))
            request_id.append(uuid.uuid4().hex)
            owned.replay_key[:] = secrets.token_bytes(REPLAY_KEY_BYTES)
            answer = await self._waiter.step(
                self._gateway.verify(request_id[0], nik, evidence, self._reader, owned.replay_key),
                self._t.query,
            )
            steps["query"] = time.perf_counter() - t0
            if answer.outcome.info.data_returned:
                owned.elements.update(
                    (element, bytearray(value.encode()))
                    for element, value in answer.elements.items()
                )
            return answer.outcome
        except EarlyOutcome as early:
            return early.outcome
        except StepTimeout:
            _log.info("step timed out in state %s", self._state.value)
            return Outcome.TIMEOUT
        except DeviceFault as fault:
            _log.error("device fault: %s", fault)
            return Outcome.SERVICE_UNAVAILABLE
        except Aborted:
            raise
        except Exception:
            _log.exception("session failed unexpectedly in state %s", self._state.value)
            return Outcome.SERVICE_UNAVAILABLE

    # --- screens ------------------------------------------------------------------------------

    def _set(self, state: SessionState, screen: Screen) -> None:
        self._state = state
        self._publish(screen)

    def _publish(self, screen: Screen) -> None:
        self._screens.publish(screen)

    def _idle_screen(self) -> Screen:
        return Screen(ScreenName.IDLE, card_present=bool(self._present))

    def _show_finger(self, screen: Screen) -> None:
        self._set(SessionState.WAITING_FINGER, screen)

    def _show_result(self, outcome: Outcome, owned: CitizenData, result_id: str | None) -> None:
        _log.info("showing outcome %s", outcome.value)
        self._set(
            SessionState.SHOWING_RESULT,
            Screen(
                ScreenName.RESULT,
                outcome=outcome,
                seconds=self._t.result_display,
                elements=owned.elements,
                problem=self._finger_step.problem if outcome is Outcome.FINGER_MISMATCH else None,
                balikan=owned.balikan,
                result_id=result_id,
            ),
        )
