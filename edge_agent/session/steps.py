"""How the steps of a verification session end: in time, timed out, aborted, or early.

Each step is awaited against its timeout and the session's abort (`StepWaiter`).
A device call runs on that device's own thread (`on_device_thread`), so that calls to one device
never overlap, even an abandoned one. A step given up (timed out or aborted) abandons its device
call; whatever the call returns late is discarded (wiped) on the device thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any, TypeVar

from common.clock import Clock
from protocol.outcomes import Outcome

_T = TypeVar("_T")


class Reason(Enum):
    """Why a session ends without a result screen."""

    PULLED = "card pulled"
    CANCELLED = "cancelled at the kiosk"
    DEACTIVATED = "kiosk deactivated"


class Aborted(Exception):
    """The session was ended from outside (card pulled, cancel, deactivation)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.value)
        self.reason = reason


class StepTimeout(Exception):
    """A step of the session ran out of time."""


class DeviceFault(Exception):
    """A device of the kiosk failed (SAM, reader, fingerprint module): not the citizen's doing."""


class EarlyOutcome(Exception):
    """A step ends the session with this outcome before the query (a card that fails)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.value)
        self.outcome = outcome


def on_device_thread(
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


class StepWaiter:
    """Awaits the steps of one session at a time, on the session's clock, until it is aborted."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._abort: asyncio.Future[Reason] | None = None
        self.waited = 0.0  # seconds the current session spent waiting (perf_counter)

    def begin(self) -> None:
        """A new session: not aborted, nothing waited yet (call on the loop)."""
        self._abort = asyncio.get_running_loop().create_future()
        self.waited = 0.0

    def end(self) -> None:
        """The session is over."""
        self._abort = None

    def abort(self, reason: Reason) -> None:
        """End the current step, and every later one of this session, with Aborted(reason)."""
        if self._abort is not None and not self._abort.done():
            self._abort.set_result(reason)

    async def step(
        self,
        work: Awaitable[_T],
        timeout: float | None,
        abandon: Callable[[], None] | None = None,
    ) -> _T:
        """Await `work`, unless the step times out (clock) or the session is aborted first."""
        abort = self._abort
        assert abort is not None
        fut = asyncio.ensure_future(work)
        waiters: set[asyncio.Future[Any]] = {fut, abort}
        sleeper = None
        if timeout is not None:
            sleeper = asyncio.ensure_future(self._clock.sleep(timeout))
            waiters.add(sleeper)
        t0 = time.perf_counter()
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            _give_up(fut, abandon)
            raise
        finally:
            self.waited += time.perf_counter() - t0
            if sleeper is not None:
                sleeper.cancel()
        if abort in done:  # an abort wins over work that finished in the same turn
            _give_up(fut, abandon)
            raise Aborted(abort.result())
        if fut in done:
            return fut.result()
        _give_up(fut, abandon)
        raise StepTimeout


def _give_up(fut: asyncio.Future[_T], abandon: Callable[[], None] | None) -> None:
    if abandon is not None:
        abandon()
        fut.add_done_callback(_retrieve)
    else:
        fut.cancel()


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()
