"""The gateway's periodic jobs end when cancelled, even when the job swallowed the cancel."""

from __future__ import annotations

import asyncio

from gateway.periodic import every


async def test_a_cancel_swallowed_by_the_job_still_ends_the_loop() -> None:
    """Python 3.11's wait_for (redis-py sends every command through it) returns the result when
    a cancel arrives just as the awaited future completes: the loop must stop all the same."""
    loop = asyncio.get_running_loop()
    waiting = asyncio.Event()
    inner: asyncio.Future[None] = loop.create_future()

    async def job() -> None:
        waiting.set()
        await asyncio.wait_for(inner, 5)

    task = asyncio.create_task(every(0, job, "job failed"))
    async with asyncio.timeout(5):
        await waiting.wait()
    inner.set_result(None)  # the answer and the cancel arrive in one turn of the loop
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert task in done
    assert task.cancelled()
