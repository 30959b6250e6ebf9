"""The kiosk page as a scenario sees it: a client of the agent's WebSocket, and its error."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import aiohttp


class ScenarioError(RuntimeError):
    """The kiosk did not reach the expected screen in time."""


class PageWatcher:
    """A client of the kiosk page: every screen message the agent pushes, in order."""

    def __init__(self, ui_url: str) -> None:
        self._url = ui_url.rstrip("/") + "/ws"
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self.screen: dict[str, Any] = {}

    async def __aenter__(self) -> PageWatcher:
        self._http = aiohttp.ClientSession()
        self._ws = await self._http.ws_connect(self._url, timeout=aiohttp.ClientWSTimeout(10))
        return self

    async def reconnect(self) -> None:
        """Open the page again (after the agent restarted)."""
        assert self._http is not None
        if self._ws is not None:
            await self._ws.close()
        self.screen = {}
        self._ws = await self._http.ws_connect(self._url, timeout=aiohttp.ClientWSTimeout(10))

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()

    async def next(self, timeout: float) -> dict[str, Any]:
        """The next screen message (ScenarioError after `timeout` seconds)."""
        assert self._ws is not None
        try:
            msg = await self._ws.receive_json(timeout=timeout)
        except TimeoutError:
            raise ScenarioError(f"no screen within {timeout:g} s") from None
        except TypeError as err:  # the connection closed: aiohttp gives a non-text message
            raise ScenarioError("the kiosk page connection closed") from err
        if not isinstance(msg, dict):
            raise ScenarioError("a screen message that is not an object")
        self.screen = msg
        if msg.get("screen") == "notice":  # the citizen reads the privacy notice and accepts
            await self.send({"type": "accept_notice"})
        return msg

    async def send(self, command: dict[str, Any]) -> None:
        """A command as the page sends it (a touch on the screen)."""
        assert self._ws is not None
        await self._ws.send_json(command)

    async def until(
        self, wanted: Callable[[dict[str, Any]], bool], timeout: float
    ) -> dict[str, Any]:
        """Read screens until one satisfies `wanted`."""
        deadline = time.monotonic() + timeout
        while not wanted(self.screen):
            await self.next(max(deadline - time.monotonic(), 0.001))
        return self.screen
