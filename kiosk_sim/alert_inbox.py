"""The admins' webhook of a simulation: where the fleet service POSTs each alert raised or
cleared ([webhook] of the stack's fleet.toml). Tests and scenarios await an alert here, woken by
its delivery, instead of reading the service's store again and again; GET lists what came."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

_log = logging.getLogger(__name__)
RAISED, CLEARED = "raised", "cleared"
WAIT_S = 20.0


class AlertInbox:
    """An HTTP(S) server on loopback that keeps every alert event it is sent, in order.

    `fail_next` answers the next deliveries 503 (a test of the webhook's retries); `attempts`
    counts every delivery tried, failed ones too."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.url = ""
        self.events: list[dict[str, Any]] = []
        self.attempts = 0
        self.fail_next = 0
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> AlertInbox:
        """Listen on a free port (HTTPS with `ssl_context`); `url` is then [webhook] url."""
        app = web.Application()
        app.router.add_post("/alerts", self._receive)
        app.router.add_get("/alerts", self._list)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, 0, ssl_context=ssl_context).start()
        port = int(self._runner.addresses[0][1])
        self.url = f"{'http' if ssl_context is None else 'https'}://{self.host}:{port}/alerts"
        return self

    async def stop(self) -> None:
        """Stop listening (the fleet service then records failed deliveries); safe twice."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        self.attempts += 1
        self._changed.set()
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503, text="failing on purpose (fail_next)")
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="a JSON body was expected")
        if not isinstance(body, dict) or body.get("event") not in (RAISED, CLEARED):
            return web.Response(status=400, text="an alert event was expected")
        _log.info("admins' webhook: %s %s", body["event"], body.get("key"))
        self.events.append(body)
        return web.Response(status=204)

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response(self.events)

    def has(self, event: str, key: str) -> bool:
        """True once `event` (RAISED, CLEARED) of the alert `key` ("tamper:KIOSK-1") came."""
        return self._first(event, key) is not None

    def state(self, kind: str, target: str) -> str | None:
        """RAISED or CLEARED as the last event of that alert said; None before any."""
        for event in reversed(self.events):
            if event.get("kind") == kind and event.get("target") == target:
                return str(event["event"])
        return None

    async def wait(self, event: str, key: str, timeout: float = WAIT_S) -> dict[str, Any]:
        """The body of `event` of the alert `key`, waiting for it (TimeoutError)."""
        await self._until(lambda: self.has(event, key), timeout)
        found = self._first(event, key)
        assert found is not None
        return found

    async def until(
        self, kind: str, target: str, state: str = RAISED, timeout: float = WAIT_S
    ) -> float | None:
        """Seconds until the alert `kind` of `target` was in `state`; None if not in `timeout`."""
        start = time.monotonic()
        try:
            await self._until(lambda: self.state(kind, target) == state, timeout)
        except TimeoutError:
            return None
        return time.monotonic() - start

    async def _until(self, condition: Callable[[], bool], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    def _first(self, event: str, key: str) -> dict[str, Any] | None:
        return next((e for e in self.events if e["event"] == event and e["key"] == key), None)
