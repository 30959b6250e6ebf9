"""The simulated supervisor MCU: the real firmware on the real MicroPython, behind a real pty.

`process.McuSim` is the caller's handle (start, restart, the world around the MCU, what it
did); its child is `micropython main.py` in the flash directory, with the image `image` builds
(the files flashed to an RP2040). The names most callers need are re-exported here.
"""

from __future__ import annotations

from simulators.mcu.process import McuSim
from simulators.mcu.settings import (
    BRIGHT,
    DARK,
    SIM_SETTINGS,
    McuSimStats,
    micropython_command,
)

__all__ = ["BRIGHT", "DARK", "SIM_SETTINGS", "McuSim", "McuSimStats", "micropython_command"]
