"""What the alerts read from the gateway's admin API, from the event loop: fleet.gateway's client
(one keep-alive connection) called in a thread, one call at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from fleet.gateway import GatewayAdmin

T = TypeVar("T")


class GatewayPoller:
    """An institution's quota use today, and the anti-scraping refusals per institution."""

    def __init__(self, client: GatewayAdmin) -> None:
        self._client = client
        self._lock = asyncio.Lock()

    async def _call(self, call: Callable[[], T]) -> T:
        async with self._lock:
            return await asyncio.to_thread(call)

    async def quota(self, institution: str) -> tuple[int, int | None] | None:
        """(used today, daily limit or None); None if the gateway does not know it."""
        return await self._call(lambda: self._client.quota(institution))

    async def pattern_blocked(self, first: str, last: str) -> dict[str, int]:
        """PATTERN_BLOCKED answers per institution over the days `first`..`last`."""
        return await self._call(lambda: self._client.pattern_blocked(first, last))

    async def usage_counts(self, first: str, last: str) -> dict[tuple[str, str, str], int]:
        """Answers and data balikan per (institution, day, outcome) over `first`..`last`."""
        return await self._call(lambda: self._client.usage_counts(first, last))

    async def close(self) -> None:
        """Close the connection."""
        await self._call(self._client.close)
