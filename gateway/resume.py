"""Callback-style results for the hot path, and the bridges to and from coroutines.

A `Done` callback is called exactly once, with the result or with the exception that stands
for it. The device hot path uses these instead of tasks and futures: an upstream answer
resumes the request straight from the connection's data callback, in the same loop turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

Done = Callable[[object], None]  # called once: the result, or a BaseException instance
Start = Callable[[Done], None]  # begins an operation that will call its Done


def run_then(coro: Coroutine[Any, Any, object], done: Done) -> None:
    """Run `coro` as a task and pass its result (or exception) to `done`."""

    def finished(task: asyncio.Task[object]) -> None:
        if task.cancelled():
            done(asyncio.CancelledError())
            return
        err = task.exception()
        done(err if err is not None else task.result())

    asyncio.get_running_loop().create_task(coro).add_done_callback(finished)


async def wait_done(start: Start) -> object:
    """Await an operation started with a Done callback; its exception is raised here.

    Cancelling the waiter does not stop the operation: its result is then dropped.
    """
    future: asyncio.Future[object] = asyncio.get_running_loop().create_future()

    def done(result: object) -> None:
        if future.done():
            return
        if isinstance(result, asyncio.CancelledError):
            future.cancel()
        elif isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)

    start(done)
    return await future
