"""Background jobs of the gateway: run one every few seconds against the store."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from gateway.errors import StoreError

log = logging.getLogger(__name__)


async def every(seconds: float, job: Callable[[], Awaitable[object]], failure: str) -> None:
    """Run `job` every `seconds` until cancelled; a StoreError is logged and the job retried.

    A cancel the job swallowed (Python 3.11's `asyncio.wait_for`, inside redis-py, can: see
    common/tasks.py) still ends the loop: the task's pending cancel request is checked after
    each run.
    """
    task = asyncio.current_task()
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except StoreError as err:
            log.warning("%s: %s", failure, err)
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
