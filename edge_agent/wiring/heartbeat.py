"""The agent's heartbeat to the supervisor MCU, sent from its asyncio event loop."""

from __future__ import annotations

import asyncio
import logging

from hardware.supervisor.errors import SupervisorError
from hardware.supervisor.link import SupervisorLink

_log = logging.getLogger(__name__)


async def heartbeat_loop(link: SupervisorLink, interval: float, stop_event: asyncio.Event) -> None:
    """Send a heartbeat every interval seconds until stop_event is set.

    Runs on the agent's event loop, so a hung loop stops the heartbeats and the MCU power-cycles
    the Pi. A failed heartbeat is logged and the loop goes on (the MCU counts the misses).
    """
    loop = asyncio.get_running_loop()
    while not stop_event.is_set():
        try:
            await loop.run_in_executor(None, link.send_heartbeat)
        except SupervisorError as err:
            _log.warning("supervisor heartbeat failed: %s", err)
        try:
            await asyncio.wait_for(stop_event.wait(), timeout=interval)
        except TimeoutError:
            continue
