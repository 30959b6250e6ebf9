"""Errors of the supervisor MCU link. Every class subclasses `hardware.errors.HardwareError`."""

from __future__ import annotations

from enum import Enum

from hardware.errors import HardwareError


class SupervisorError(HardwareError):
    """A supervisor MCU operation failed."""


class SupervisorPortError(SupervisorError):
    """The serial port to the MCU failed: could not be opened, vanished, or refused a write."""


class SupervisorTimeoutError(SupervisorError):
    """The MCU did not answer within the response timeout (link down, MCU busy or off)."""


class FrameFault(Enum):
    """Why received bytes were not accepted as a frame."""

    TRUNCATED = "frame cut short"
    CORRUPT = "checksum or encoding error"
    UNKNOWN = "unknown message type"
    MALFORMED = "payload of the wrong size or value for its message"


class MalformedFrameError(SupervisorError):
    """Bytes from the MCU that are not a well-formed frame or message."""

    def __init__(self, message: str, fault: FrameFault) -> None:
        super().__init__(f"{message}: {fault.value}")
        self.fault = fault


class NakReason(Enum):
    """Why the MCU refused a command (the reason byte of its NAK)."""

    MALFORMED = 1
    AUTH_FAILED = 2
    REPLAYED = 3
    NO_KEY = 4
    KEY_ALREADY_SET = 5
    STORAGE_FAILED = 6
    NO_ID = 7
    UNKNOWN = 0xFF


class SupervisorRefusedError(SupervisorError):
    """The MCU refused a command; `reason` says why."""

    def __init__(self, message: str, reason: NakReason) -> None:
        super().__init__(f"{message}: {reason.name.lower().replace('_', ' ')}")
        self.reason = reason


class TamperClearRefusedError(SupervisorRefusedError):
    """The MCU refused to clear its tamper latch: bad MAC, replayed counter, or no key."""
