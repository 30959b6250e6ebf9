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


async def test_cancel_and_wait_repeats_a_swallowed_cancel() -> None:
    started, swallowed = asyncio.Event(), asyncio.Event()

    async def job() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed.set()  # as Python 3.11's asyncio.wait_for can
        await asyncio.Event().wait()

    task = asyncio.create_task(job())
    async with asyncio.timeout(5):
        await started.wait()
    await cancel_and_wait(task, wait_s=0.05)
    assert swallowed.is_set() and task.cancelled()


async def test_cancel_and_wait_gives_up_on_a_task_that_ignores_cancels() -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def stubborn() -> None:
        started.set()
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn())
    async with asyncio.timeout(5):
        await started.wait()
    await cancel_and_wait(task, wait_s=0.05)  # bounded: returns, the task still runs
    assert not task.done()
    release.set()
    await asyncio.wait({task}, timeout=5)
    assert task.done()


async def test_cancel_and_wait_raises_what_the_task_raised_on_cancel() -> None:
    started = asyncio.Event()

    async def failing() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("clean-up failed") from None

    task = asyncio.create_task(failing())
    async with asyncio.timeout(5):
        await started.wait()
    try:
        await cancel_and_wait(task)
    except RuntimeError as err:
        assert str(err) == "clean-up failed"
    else:
        raise AssertionError("the task's error was lost")
