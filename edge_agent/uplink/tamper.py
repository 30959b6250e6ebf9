"""Tamper response: the enclosure switch (GPIO) or the supervisor MCU reports a tamper.

At once, on the event loop: the tamper latch goes to disk (fsync), the kiosk refuses sessions
(deactivated screen, tamper pattern on the LEDs), the device's key material is destroyed, and
the uplink reports it over the still-open MQTT connection and then goes offline for good (the
key is gone, so no new connection could be made anyway). The latch survives restarts; clearing
it means re-provisioning the kiosk (new key, new certificate) on site.

Key material in simulation and on kiosks without a token is a PEM file: it is overwritten with
random bytes, fsynced and unlinked. On flash storage an overwrite is not a guaranteed erase;
kiosks in the field keep the key in a PKCS#11 token, where destroying means C_DestroyObject
(a `KeyDestroyer` of its own). Copies in process memory (the TLS contexts of open connections)
cannot be wiped from Python; they end with the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from edge_agent.uplink.remote_control import RemoteControl
from edge_agent.uplink.statefile import SECURITY, RemoteState, fsync_dir

_log = logging.getLogger(__name__)


class KeyDestroyer(Protocol):
    """Destroys the device's private key material; returns what it destroyed (for the log)."""

    def destroy(self) -> list[str]:
        """Destroy every key; never raises."""
        ...


class FileKeyDestroyer:
    """Private keys held in files: overwrite with random bytes, fsync, unlink, fsync the folder."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(dict.fromkeys(paths))

    def destroy(self) -> list[str]:
        """Destroy every key file that exists; the names of those destroyed."""
        done: list[str] = []
        for path in self.paths:
            try:
                destroy_file(path)
            except FileNotFoundError:
                continue
            except OSError as err:
                _log.error("cannot destroy key file %s: %s", path.name, err.strerror)
                continue
            done.append(path.name)
        return done


def destroy_file(path: Path) -> None:
    """Overwrite a file in place with random bytes, fsync, unlink it, fsync its folder."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        left = max(size, 1)
        while left > 0:
            chunk = secrets.token_bytes(min(left, 65536))
            left -= os.write(fd, chunk)
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
    fsync_dir(path.parent)


Report = Callable[[str], Awaitable[None]]


class TamperResponder:
    """Turns a tamper report into: latch on disk, sessions refused, keys destroyed, reported."""

    def __init__(
        self,
        control: RemoteControl,
        apply: Callable[[RemoteState], None],
        keys: KeyDestroyer,
        *,
        report: Report | None = None,
    ) -> None:
        self._control = control
        self._apply = apply  # Enforcer.apply: refuse sessions, tamper pattern
        self._keys = keys
        self.report = report
        self._loop: asyncio.AbstractEventLoop | None = None
        self._early: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self.tripped = asyncio.Event()
        self.destroyed: list[str] = []

    @property
    def tampered(self) -> bool:
        """True once the tamper latch is set (also from an earlier run)."""
        return self._control.state.tampered

    def destroy_keys(self) -> list[str]:
        """Destroy the key material now (again, after a restart with the latch set)."""
        done = self._keys.destroy()
        self.destroyed += done
        return done

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Enter reports into `loop` from now on (reports before this are handled now)."""
        self._loop = loop
        early, self._early = self._early, []
        for cause in early:
            self.trip(cause)

    def gpio_changed(self, tampered: bool) -> None:
        """The enclosure switch changed (any thread; gpiozero's, for TamperSwitch)."""
        if tampered:
            self._from_thread("enclosure")

    def mcu_tamper(self, report: Any) -> None:
        """A TAMPER report of the supervisor MCU (its reader thread; SupervisorLink.on_tamper)."""
        causes = getattr(report, "causes", None)
        names = sorted(str(c.name).lower() for c in causes) if causes is not None else []
        self._from_thread("mcu_" + "_".join(names) if names else "mcu")

    def _from_thread(self, cause: str) -> None:
        loop = self._loop
        if loop is None:
            self._early.append(cause)
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: the next start sees it
            loop.call_soon_threadsafe(self.trip, cause)

    def trip(self, cause: str) -> None:
        """On the loop: latch, deactivate, destroy the keys at once; report in the background."""
        first = not self._control.state.tampered
        state = self._control.record_tamper(cause)  # on disk before anything else
        self._apply(state)
        self.destroy_keys()
        if first:
            SECURITY.warning(
                "security_event kind=key_destroyed cause=%s keys=%d", cause, len(self.destroyed)
            )
        self.tripped.set()
        if first and self.report is not None and self._loop is not None:
            self._task = self._loop.create_task(self._report(cause), name="tamper-report")

    async def _report(self, cause: str) -> None:
        assert self.report is not None
        try:
            await self.report(cause)
        except Exception:
            _log.exception("tamper report failed")

    async def close(self) -> None:
        """Wait for a report still going out (briefly)."""
        if self._task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(3.0):
                    await self._task
            self._task = None
