"""The simulated stack's error, and waiting for a started agent's READY=1 (sd_notify)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path


class StackError(RuntimeError):
    """A part of the simulated stack did not start or answer."""


async def await_ready(
    agent: subprocess.Popen[bytes] | None, sock: socket.socket, timeout: float, log: Path
) -> None:
    """Wait for READY=1 on `sock`; StackError if the agent exits first or stays silent."""
    loop = asyncio.get_running_loop()
    assert agent is not None

    async def exited() -> None:
        await loop.run_in_executor(None, agent.wait)

    async def ready() -> None:
        while b"READY=1" not in (await loop.sock_recv(sock, 4096)).split(b"\n"):
            pass

    waits = {asyncio.ensure_future(ready()), asyncio.ensure_future(exited())}
    done, pending = await asyncio.wait(waits, timeout=timeout, return_when="FIRST_COMPLETED")
    for task in pending:
        task.cancel()
    if agent.poll() is not None:
        raise StackError(
            f"kiosk agent exited with {agent.returncode} before it was ready; see {log}"
        )
    if not done:
        raise StackError(f"kiosk agent not ready within {timeout:g} s")
