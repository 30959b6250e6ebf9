"""Process hygiene: no NIK in logs, and systemd's readiness and watchdog (core dumps: common).

The NIK filter is a last resort: the code never logs personal data, the filter masks anything
NIK-shaped that slips through anyway and counts how often it had to (tests prove it never did).
sd_notify speaks the datagram protocol of $NOTIFY_SOCKET directly (no systemd library).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

from common.clock import Clock
from common.tasks import cancel_and_wait
from protocol.nik import NIK_IN_TEXT

_log = logging.getLogger(__name__)


def mask_niks(text: str) -> tuple[str, int]:
    """Replace every run of exactly 16 digits by its first 4 and asterisks; count them."""
    return NIK_IN_TEXT.subn(lambda m: m.group(1) + "*" * 12, text)


class NikMaskFilter(logging.Filter):
    """A handler filter masking anything NIK-shaped in a record; `hits` counts the records."""

    def __init__(self) -> None:
        super().__init__()
        self.hits = 0
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the rendered message, exception and stack text of `record` in place."""
        hit = False
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        masked, n = mask_niks(message)
        if n:
            hit = True
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text, n = mask_niks(record.exc_text)
            hit = hit or n > 0
        if record.stack_info:
            record.stack_info, n = mask_niks(record.stack_info)
            hit = hit or n > 0
        if hit:
            self.hits += 1
        return True


def install_log_filter(handler: logging.Handler) -> NikMaskFilter:
    """Put a NikMaskFilter on `handler` (handler filters see records of every logger)."""
    for existing in handler.filters:
        if isinstance(existing, NikMaskFilter):
            return existing
    nik_filter = NikMaskFilter()
    handler.addFilter(nik_filter)
    return nik_filter


def _notify_address(env: Mapping[str, str]) -> str | bytes | None:
    path = env.get("NOTIFY_SOCKET")
    if not path:
        return None
    if path.startswith("@"):
        return b"\0" + path[1:].encode()  # abstract namespace
    return path


def sd_notify(state: str, env: Mapping[str, str] | None = None) -> bool:
    """Send `state` (e.g. "READY=1") to $NOTIFY_SOCKET; False if unset or unreachable."""
    address = _notify_address(os.environ if env is None else env)
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as err:
        _log.warning("sd_notify failed: %s", err.strerror)
        return False
    return True


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Half of $WATCHDOG_USEC in seconds if the watchdog is on for this process, else None."""
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC")
    if not usec or not env.get("NOTIFY_SOCKET"):
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2_000_000 if value > 0 else None


async def watchdog_loop(
    clock: Clock, interval: float, env: Mapping[str, str] | None = None
) -> None:
    """Ping WATCHDOG=1 every `interval` from the event loop (a stuck loop stops the pings)."""
    while True:
        sd_notify("WATCHDOG=1", env)
        await clock.sleep(interval)


class Notifier:
    """READY, STOPPING, STATUS and the watchdog task, for the agent's lifetime."""

    def __init__(self, clock: Clock, env: Mapping[str, str] | None = None) -> None:
        self._clock = clock
        self._env = dict(os.environ if env is None else env)
        self._task: asyncio.Task[None] | None = None

    def ready(self, status: str = "ready") -> None:
        """Tell systemd the agent is ready; start the watchdog pings if asked for."""
        sd_notify(f"READY=1\nSTATUS={status}", self._env)
        interval = watchdog_interval(self._env)
        if interval is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                watchdog_loop(self._clock, interval, self._env), name="sd-watchdog"
            )

    def status(self, text: str) -> None:
        """Tell systemd what the agent is doing (STATUS=, without READY)."""
        sd_notify(f"STATUS={text}", self._env)

    async def stopping(self) -> None:
        """Tell systemd the agent is stopping; end the pings."""
        sd_notify("STOPPING=1", self._env)
        await cancel_and_wait(self._task)
        self._task = None
