"""Each alert raised or cleared, POSTed as JSON to the admins' webhook, in order.

A delivery is tried up to `max_attempts` times, the pause doubling from `backoff_s` (at most
`MAX_BACKOFF_S`); every failed attempt and the success are recorded on the alert
(store.record_delivery), so `kiosk-fleet alerts` shows what did not arrive and why. Anything
other than a 2xx answer is a failure. The body carries ids, kinds, counts and times only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from common.clock import Clock
from common.errors import TlsFileError
from common.tls import client_context
from fleet.errors import FleetError
from fleet.service.settings import WebhookSettings
from fleet.store.base import Alert

_log = logging.getLogger(__name__)
MAX_BACKOFF_S = 300.0
Recorder = Callable[[str, int, str | None], Awaitable[None]]  # key, raised_at, error


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One change of an alert: raised or cleared."""

    event: str  # "raised" or "cleared"
    alert: Alert

    def to_json(self) -> dict[str, Any]:
        """The webhook's body."""
        a = self.alert
        return {
            "event": self.event,
            "key": a.key,
            "kind": a.kind.value,
            "target": a.target,
            "detail": a.detail,
            "raised_at": a.raised_at,
            "cleared_at": a.cleared_at,
        }


def _context(settings: WebhookSettings) -> ssl.SSLContext | bool:
    if not settings.url.startswith("https:"):
        return True  # plain http (loopback only): aiohttp's default
    if settings.ca_file is not None:
        try:
            return client_context(settings.ca_file)
        except TlsFileError as err:
            raise FleetError(f"[webhook] ca_file: {err}") from err
    return ssl.create_default_context()


class Webhook:
    """The delivery queue and its task."""

    def __init__(
        self,
        settings: WebhookSettings,
        record: Recorder,
        clock: Clock,
        *,
        backoff_s: float = 1.0,
    ) -> None:
        self.settings = settings
        self._record = record
        self._clock = clock
        self._backoff = backoff_s
        self._ssl = _context(settings)
        self._queue: asyncio.Queue[AlertEvent] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.failed_attempts = 0
        self.given_up = 0
        self.changed = asyncio.Event()  # set after each attempt is recorded (tests await it)

    def send(self, event: AlertEvent) -> None:
        """Queue an event for delivery."""
        self._queue.put_nowait(event)

    def start(self) -> None:
        """Start delivering."""
        self._task = asyncio.create_task(self._run(), name="fleet-webhook")

    async def stop(self) -> None:
        """Stop (what is still queued is not delivered; the alerts stay in the store)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def idle(self) -> None:
        """Return once everything queued was delivered or given up."""
        await self._queue.join()

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while True:
                event = await self._queue.get()
                try:
                    await self._deliver(http, event)
                finally:
                    self._queue.task_done()

    async def _deliver(self, http: aiohttp.ClientSession, event: AlertEvent) -> None:
        body = event.to_json()
        pause = self._backoff
        key, raised_at = event.alert.key, event.alert.raised_at
        for attempt in range(1, self.settings.max_attempts + 1):
            error = await self._post(http, body)
            await self._safe_record(key, raised_at, error)
            self.changed.set()
            if error is None:
                self.delivered += 1
                return
            self.failed_attempts += 1
            _log.warning(
                "webhook delivery of %s %s failed (attempt %d of %d): %s",
                event.event,
                key,
                attempt,
                self.settings.max_attempts,
                error,
            )
            if attempt < self.settings.max_attempts:
                await self._clock.sleep(pause)
                pause = min(pause * 2, MAX_BACKOFF_S)
        self.given_up += 1
        self.changed.set()
        _log.error("webhook delivery of %s %s given up", event.event, key)

    async def _post(self, http: aiohttp.ClientSession, body: dict[str, Any]) -> str | None:
        try:
            async with http.post(self.settings.url, json=body, ssl=self._ssl) as resp:
                await resp.read()
                return None if 200 <= resp.status < 300 else f"HTTP {resp.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            return type(err).__name__

    async def _safe_record(self, key: str, raised_at: int, error: str | None) -> None:
        try:
            await self._record(key, raised_at, error)
        except Exception:  # the store's trouble must not stop deliveries
            _log.exception("could not record the webhook delivery of %s", key)
