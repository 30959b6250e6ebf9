"""The supervisor MCU (RP2040 beside the Pi): frame codec, message payloads and the driver.

`frame` and `messages` are pure codecs (the firmware has its own twin, checked against the same
golden vectors); `link` is the driver on an injected serial port; `port` opens the UART with
pyserial.
"""

from __future__ import annotations

from hardware.supervisor.errors import (
    FrameFault,
    MalformedFrameError,
    NakReason,
    SupervisorError,
    SupervisorPortError,
    SupervisorRefusedError,
    SupervisorTimeoutError,
    TamperClearRefusedError,
)
from hardware.supervisor.link import SupervisorHealth, SupervisorLink
from hardware.supervisor.messages import (
    DroppedFrames,
    McuIdentity,
    McuPattern,
    McuStatus,
    TamperCause,
    TamperReport,
    clear_payload,
)
from hardware.supervisor.port import open_port

__all__ = [
    "DroppedFrames",
    "FrameFault",
    "MalformedFrameError",
    "McuIdentity",
    "McuPattern",
    "McuStatus",
    "NakReason",
    "SupervisorError",
    "SupervisorHealth",
    "SupervisorLink",
    "SupervisorPortError",
    "SupervisorRefusedError",
    "SupervisorTimeoutError",
    "TamperCause",
    "TamperClearRefusedError",
    "TamperReport",
    "clear_payload",
    "open_port",
]
