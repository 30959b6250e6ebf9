"""The simulated supervisor MCU: the real firmware in a child process behind a real pty.

`process.McuSim` is the caller's handle (start, restart, the world around the MCU, what it
did); `firmware_host` is the child that runs the firmware on the CPython stand-ins. The names
most callers need are re-exported here.
"""

from __future__ import annotations

from simulators.mcu.process import BRIGHT, DARK, SIM_SETTINGS, McuSim, McuSimStats

__all__ = ["BRIGHT", "DARK", "SIM_SETTINGS", "McuSim", "McuSimStats"]
