"""The exception tree of the hardware package.

Every error carries structured fields (a status word, a confirmation code) and a message a
person can act on. No message ever contains personal data read from a card or a sensor.
"""

from __future__ import annotations


class HardwareError(Exception):
    """Base of every error raised by the hardware package."""


# --- ID card reader (PC/SC) -------------------------------------------------------------------


class CardError(HardwareError):
    """A card or SAM operation failed; `sw` is the ISO 7816 status word where there is one."""

    def __init__(self, message: str, sw: int | None = None) -> None:
        if sw is not None:
            message = f"{message} (SW {sw:04X})"
        super().__init__(message)
        self.sw = sw


class NoReaderError(CardError):
    """The card reader (or the PC/SC service) is not there."""


class NoCardError(CardError):
    """No card is in the reader."""


class CardRemovedError(CardError):
    """The card was pulled while it was being read."""


class CardNotAuthenticError(CardError):
    """The card failed mutual authentication with the SAM: cloned, forged or damaged."""


class SamMissingError(CardError):
    """No SAM in the reader's SAM slot."""


class SamNotAuthorisedError(CardError):
    """The SAM refuses to work: not activated by Dukcapil, or bound to another reader."""


class SamNotBoundError(SamNotAuthorisedError):
    """The SAM is bound to no kiosk yet (kiosk-provision's SAM step binds it), or the kiosk has
    no host key to authenticate with."""


class SamHostKeyRejectedError(SamNotAuthorisedError):
    """The SAM is bound to another host key (another kiosk's): only its issuer can reset it."""


class MalformedCardDataError(CardError):
    """The card answered with data that does not follow the profile (TLV, lengths, MACs)."""


class CardTimeoutError(CardError):
    """The card or SAM did not answer in time."""


# --- Fingerprint module (UART) ----------------------------------------------------------------


class SensorError(HardwareError):
    """A fingerprint module operation failed; `code` is its confirmation code where there is one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        if code is not None:
            message = f"{message} (code 0x{code:02X})"
        super().__init__(message)
        self.code = code


# --- Indicators and tamper switch (GPIO) ------------------------------------------------------


class GpioError(HardwareError):
    """An LED, buzzer or switch could not be driven or read."""
