"""Whether the state folder can be written: fail closed while it cannot, recover by itself.

A count that cannot reach the outbox, or a state that cannot reach remote-state.json, means the
kiosk can no longer remember what it did: it refuses new sessions (STORAGE_FAILURE), says so in
health (an alert at the fleet side), and probes the folder every `interval` seconds. When a
probe write (a file written and fsynced, and a row in the outbox) works again, the writes that
waited (a restrictive desired state applied in memory only) are made, then sessions resume.
While all is well a small file is written and fsynced every `check_interval` seconds, so that a
folder gone read-only or full is found before a citizen's count depends on it.

The file-system boundary is `probe`: tests may inject one that fails; the integration tests
fill a real tmpfs or remount it read-only instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from common.clock import Clock
from common.tasks import cancel_and_wait
from edge_agent.errors import StorageFailure

_log = logging.getLogger(__name__)

PROBE_FILE = ".write-probe"


def describe(err: BaseException) -> str:
    """A short cause of a write failure (no paths of other files, no data)."""
    if isinstance(err, OSError):
        return err.strerror or type(err).__name__
    return str(err) or type(err).__name__


class StorageWatch:
    """The state folder's writability, what waits for it, and the probe that brings it back."""

    def __init__(
        self,
        folder: Path,
        clock: Clock,
        probe: Callable[[], None],
        *,
        check: Callable[[], None] | None = None,
        interval: float = 2.0,
        check_interval: float = 10.0,
    ) -> None:
        self.folder = folder
        self._clock = clock
        self._probe = probe
        self._check = check
        self._interval = interval
        self._check_interval = check_interval
        self.ok = True
        self.cause = ""
        self._waiting: dict[str, Callable[[], None]] = {}
        self._listeners: list[Callable[[bool], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._check_task: asyncio.Task[None] | None = None

    def listen(self, listener: Callable[[bool], None]) -> None:
        """Call `listener(ok)` whenever writability changes."""
        self._listeners.append(listener)

    def failed(self, failure: StorageFailure) -> None:
        """A write failed: refuse sessions until a probe write works (the log says what to do)."""
        if not self.ok:
            return
        self.ok = False
        self.cause = failure.cause
        _log.error(
            "cannot write %s (%s): the kiosk refuses sessions until it can; free space in %s, "
            "or check that it is mounted read-write and the SD card is healthy",
            failure.path,
            failure.cause,
            self.folder,
        )
        self._notify()
        self._ensure_probing()

    def later(self, key: str, write: Callable[[], None]) -> None:
        """Make `write` once the folder can be written again (the newest per `key` wins)."""
        self._waiting[key] = write
        if self.ok:  # a failure seen by its writer before this watch heard of it
            self.failed(StorageFailure(self.folder, "a write is waiting"))

    def start(self) -> None:
        """Check the folder now and then (call on the loop)."""
        if self._check is not None and self._check_task is None:
            self._check_task = asyncio.get_running_loop().create_task(
                self._check_loop(), name="storage-check"
            )

    async def close(self) -> None:
        """Stop probing."""
        await cancel_and_wait(self._task)
        await cancel_and_wait(self._check_task)
        self._task = self._check_task = None

    async def _check_loop(self) -> None:
        assert self._check is not None
        while True:
            await self._clock.sleep(self._check_interval)
            if not self.ok:
                continue
            try:
                self._check()
            except OSError as err:
                self.failed(StorageFailure(self.folder / PROBE_FILE, describe(err)))

    def _ensure_probing(self) -> None:
        if self._task is None or self._task.done():
            with contextlib.suppress(RuntimeError):  # no loop (a synchronous caller at start)
                self._task = asyncio.get_running_loop().create_task(
                    self._probe_until_ok(), name="storage-probe"
                )

    async def _probe_until_ok(self) -> None:
        while not self.ok:
            await self._clock.sleep(self._interval)
            if self.try_now():
                return

    def try_now(self) -> bool:
        """One probe: True (and sessions resume) if it and every waiting write worked."""
        try:
            self._probe()
            for key in list(self._waiting):
                self._waiting[key]()
                del self._waiting[key]
        except (OSError, sqlite3.Error, StorageFailure) as err:
            _log.info("state folder %s still cannot be written: %s", self.folder, describe(err))
            return False
        self.ok = True
        self.cause = ""
        _log.warning("state folder %s can be written again: sessions resume", self.folder)
        self._notify()
        return True

    def _notify(self) -> None:
        for listener in self._listeners:
            try:
                listener(self.ok)
            except Exception:
                _log.exception("storage listener failed")
