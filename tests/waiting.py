"""Awaiting a state that another task reaches, woken by the event its owner sets on change."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(
    condition: Callable[[], bool], changed: asyncio.Event, timeout_s: float = 10.0
) -> None:
    """Wait until `condition()` holds, checked again each time `changed` is set."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            changed.clear()
            await changed.wait()
