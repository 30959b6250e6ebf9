"""Background-task cancel: the task has ended (its clean-up ran) when cancel_and_wait returns."""

from __future__ import annotations

import asyncio

from common.tasks import cancel_and_wait


async def test_cancel_and_wait_ends_the_task_and_its_cleanup() -> None:
    started, cleaned = asyncio.Event(), asyncio.Event()

    async def job() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.set()

    task = asyncio.create_task(job())
    await asyncio.wait_for(started.wait(), 5)
    await cancel_and_wait(task)
    assert task.done() and cleaned.is_set()


async def test_cancel_and_wait_takes_none_and_finished_tasks() -> None:
    await cancel_and_wait(None)
    task = asyncio.create_task(_nothing())
    await task
    await cancel_and_wait(task)


async def _nothing() -> None:
    """A coroutine that finishes at once."""
