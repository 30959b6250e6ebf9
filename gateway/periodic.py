"""Background jobs of the gateway: run one every few seconds against the store."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from gateway.errors import StoreError

log = logging.getLogger(__name__)


async def every(seconds: float, job: Callable[[], Awaitable[object]], failure: str) -> None:
    """Run `job` every `seconds` until cancelled; a StoreError is logged and the job retried."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except StoreError as err:
            log.warning("%s: %s", failure, err)
