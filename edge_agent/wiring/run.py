"""Running the agent as a process: until SIGTERM/SIGINT, with core dumps off."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from common.hardening import disable_core_dumps
from edge_agent.config import AgentConfig
from edge_agent.wiring.app import Agent

_log = logging.getLogger(__name__)


async def run_agent(
    config: AgentConfig, *, stop: asyncio.Event | None = None, **parts: Any
) -> None:
    """Run the agent until SIGTERM/SIGINT (or `stop` is set); `parts` go to Agent()."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    agent = Agent(config, **parts)
    try:
        await agent.start()
        await stop.wait()
    finally:
        await agent.stop()
        for sig in handled:
            loop.remove_signal_handler(sig)


def harden_process() -> None:
    """Core dumps off for this process (call once, before anything reads a card)."""
    if not disable_core_dumps():
        _log.warning("could not mark the process non-dumpable (RLIMIT_CORE is 0 all the same)")
