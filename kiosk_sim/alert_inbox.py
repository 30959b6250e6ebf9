"""The admins' webhook of a simulation: where the fleet service POSTs each alert raised or
cleared ([webhook] of the stack's fleet.toml). Tests and scenarios await an alert's state here,
woken by its delivery, instead of reading the service's store again and again."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_log = logging.getLogger(__name__)
RAISED, CLEARED = "raised", "cleared"


@dataclass
class AlertInbox:
    """An HTTP server on loopback that keeps every webhook body it is sent, in order."""

    host: str = "127.0.0.1"
    events: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The webhook's address, for [webhook] url."""
        return f"http://{self.host}:{self.port}/alerts"

    async def start(self) -> AlertInbox:
        """Listen on a free port."""
        app = web.Application()
        app.router.add_post("/alerts", self._receive)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        """Stop listening (the fleet service then records failed deliveries); safe twice."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="a JSON body was expected")
        if not isinstance(body, dict) or body.get("event") not in (RAISED, CLEARED):
            return web.Response(status=400, text="an alert event was expected")
        _log.info("admins' webhook: %s %s", body["event"], body.get("key"))
        self.events.append(body)
        self._changed.set()
        return web.Response(status=204)

    def state(self, kind: str, target: str) -> str | None:
        """RAISED or CLEARED as the last event of that alert said; None before any."""
        for event in reversed(self.events):
            if event.get("kind") == kind and event.get("target") == target:
                return str(event["event"])
        return None

    async def until(
        self, kind: str, target: str, state: str = RAISED, timeout: float = 20.0
    ) -> float | None:
        """Seconds until the alert `kind` of `target` was in `state`; None if not in `timeout`."""
        start = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                while self.state(kind, target) != state:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            return None
        return time.monotonic() - start
