"""Errors of the fingerprint module: one class per confirmation-code family, plus link faults.

Every class subclasses `hardware.errors.SensorError` and keeps the module's confirmation code in
`code` (None for faults of the link itself). Messages name the fault, never any data.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from hardware.errors import SensorError

# --- faults of the link: no confirmation code -------------------------------------------------


class SensorTimeoutError(SensorError):
    """The module did not answer (completely) within the read timeout."""


class SensorPortError(SensorError):
    """The serial port failed: could not be opened, vanished, or refused a write."""


class SensorCancelledError(SensorError):
    """The caller cancelled a wait for a finger."""


class FrameFault(Enum):
    """What was wrong with bytes that did not form a packet."""

    NOISE = "bytes outside any packet"
    ADDRESS = "packet for another module address"
    PACKET_ID = "unknown packet identifier"
    LENGTH = "impossible packet length"
    CHECKSUM = "checksum mismatch"
    TRUNCATED = "packet cut short"
    UNEXPECTED = "packet of the wrong kind or size for the command"


class MalformedPacketError(SensorError):
    """Bytes from the module that are not a well-formed packet (header, address, length, sum)."""

    def __init__(self, message: str, fault: FrameFault = FrameFault.UNEXPECTED) -> None:
        super().__init__(f"{message}: {fault.value}")
        self.fault = fault


# --- the module answered with a confirmation code other than 0x00 -----------------------------


class ConfirmationError(SensorError):
    """The module refused or failed a command; `code` is its confirmation code."""

    code: int


class PacketReceiveError(ConfirmationError):
    """0x01: the module could not read our packet."""


class NoFingerError(ConfirmationError):
    """0x02: no finger on the sensor."""


class FingerTimeoutError(NoFingerError):
    """No finger appeared before the caller's finger timeout (last answer 0x02)."""


class CaptureFailedError(ConfirmationError):
    """0x03: the module failed to take the finger image."""


class PoorImageError(ConfirmationError):
    """0x06: the image is too disordered to extract features; the citizen should try again."""


class FeatureExtractionError(PoorImageError):
    """0x07: too few feature points, or the finger area is too small."""


class NoMatchError(ConfirmationError):
    """0x08 outside a Match command (match() itself returns MatchResult(matched=False))."""


class NotFoundError(ConfirmationError):
    """0x09: a library search found no matching finger."""


class MergeFailedError(ConfirmationError):
    """0x0A: the module could not combine the two character files."""


class OutOfRangeError(ConfirmationError):
    """0x0B: a page or buffer number beyond what the module has."""


class InvalidTemplateError(ConfirmationError):
    """0x0C: the template read from the library is invalid."""


class TransferError(ConfirmationError):
    """0x0D, 0x0E, 0x0F: a template or image transfer failed."""


class LibraryError(ConfirmationError):
    """0x10, 0x11, 0x1F, 0x22, 0x24, 0x27: the template library refused the operation."""


class WrongPasswordError(ConfirmationError):
    """0x13: the module password is wrong."""


class PasswordRequiredError(ConfirmationError):
    """0x21: the module wants its password verified first."""


class NoValidImageError(ConfirmationError):
    """0x15: no valid image in the image buffer (capture before extracting features)."""


class ConfigurationError(ConfirmationError):
    """0x1A, 0x1B, 0x1C, 0x20: bad register, register value, notepad page or address."""


class ModuleTimeoutError(ConfirmationError):
    """0x26: the module's own operation timed out."""


class UnsupportedCommandError(ConfirmationError):
    """0xFC: the module does not know the command."""


class ModuleFaultError(ConfirmationError):
    """0x19, 0x1D, 0x29, 0xFD, 0xFE: the module itself is faulty."""


class FlashError(ModuleFaultError):
    """0x18: the module failed to write its flash."""


class UnknownConfirmationError(ConfirmationError):
    """A confirmation code that is not in the table."""


CONFIRMATION_CODES: Mapping[int, tuple[type[ConfirmationError], str]] = {
    0x01: (PacketReceiveError, "module could not receive the packet"),
    0x02: (NoFingerError, "no finger on the sensor"),
    0x03: (CaptureFailedError, "failed to capture the finger"),
    0x06: (PoorImageError, "finger image too disordered"),
    0x07: (FeatureExtractionError, "too few feature points in the finger image"),
    0x08: (NoMatchError, "fingers do not match"),
    0x09: (NotFoundError, "no matching finger in the library"),
    0x0A: (MergeFailedError, "failed to combine character files"),
    0x0B: (OutOfRangeError, "page or buffer number out of range"),
    0x0C: (InvalidTemplateError, "template in the library is invalid"),
    0x0D: (TransferError, "template upload failed"),
    0x0E: (TransferError, "module cannot receive the following data packets"),
    0x0F: (TransferError, "image upload failed"),
    0x10: (LibraryError, "failed to delete the template"),
    0x11: (LibraryError, "failed to clear the library"),
    0x13: (WrongPasswordError, "wrong module password"),
    0x15: (NoValidImageError, "no valid image in the image buffer"),
    0x18: (FlashError, "flash write failed"),
    0x19: (ModuleFaultError, "undefined module error"),
    0x1A: (ConfigurationError, "invalid register number"),
    0x1B: (ConfigurationError, "invalid register configuration"),
    0x1C: (ConfigurationError, "wrong notepad page number"),
    0x1D: (ModuleFaultError, "module failed to operate its communication port"),
    0x1F: (LibraryError, "template library full"),
    0x20: (ConfigurationError, "wrong module address"),
    0x21: (PasswordRequiredError, "module password must be verified first"),
    0x22: (LibraryError, "template is empty"),
    0x24: (LibraryError, "template library is empty"),
    0x26: (ModuleTimeoutError, "module operation timed out"),
    0x27: (LibraryError, "finger already enrolled"),
    0x29: (ModuleFaultError, "sensor hardware error"),
    0xFC: (UnsupportedCommandError, "unsupported command"),
    0xFD: (ModuleFaultError, "module hardware error"),
    0xFE: (ModuleFaultError, "command execution failed"),
}
"""Every confirmation code the R30x/AS608 manuals define, with its error class and text."""


def error_for_code(code: int) -> ConfirmationError:
    """The typed error for a non-zero confirmation code (UnknownConfirmationError if unlisted)."""
    cls, text = CONFIRMATION_CODES.get(code, (UnknownConfirmationError, "unknown confirmation"))
    return cls(text, code)
