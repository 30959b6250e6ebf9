"""Owning background tasks: every task started is cancelled and awaited on shutdown.

A cancel can be lost: on Python 3.11, `asyncio.wait_for` returns the result instead of raising
CancelledError when the cancel arrives just as what it awaits completes (CPython gh-86296, fixed
in 3.12), and redis-py wraps every command it sends in `wait_for`. A task that loops would then
run on and a shutdown that awaits it would wait forever, so `cancel_and_wait` repeats the cancel
and gives up after a bound.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)
CANCEL_WAIT_S = 2.0  # how long a cancelled task gets to end, each of two tries


async def cancel_and_wait(task: asyncio.Task[Any] | None, wait_s: float = CANCEL_WAIT_S) -> None:
    """Cancel a background task (if any) and wait until it has ended, at most twice `wait_s`."""
    if task is None:
        return
    for attempt in (1, 2):
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=wait_s)
        if done:
            break
        log.warning("task %s still runs %.1f s after cancel %d", task.get_name(), wait_s, attempt)
    else:
        log.error("task %s ignores its cancel: left running", task.get_name())
        return
    if not task.cancelled():
        task.result()  # its exception, if it failed
