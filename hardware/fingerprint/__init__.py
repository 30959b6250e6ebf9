"""The fingerprint module (R30x/AS608 class, UART): packet codec, driver and errors.

`packet` is the pure codec, `module` the blocking driver on a serial port, `errors` the typed
errors of every confirmation code. The names most callers need are re-exported here; raw packets
are logged only at `TRAFFIC` (from `hardware`), with template data and the password redacted.
"""

from __future__ import annotations

from hardware import TRAFFIC
from hardware.fingerprint.errors import (
    FingerTimeoutError,
    MalformedPacketError,
    NoFingerError,
    PoorImageError,
    SensorCancelledError,
    SensorPortError,
    SensorTimeoutError,
    WrongPasswordError,
)
from hardware.fingerprint.module import FingerprintModule, open_serial
from hardware.fingerprint.packet import MatchResult, SystemParameters

__all__ = [
    "TRAFFIC",
    "FingerTimeoutError",
    "FingerprintModule",
    "MalformedPacketError",
    "MatchResult",
    "NoFingerError",
    "PoorImageError",
    "SensorCancelledError",
    "SensorPortError",
    "SensorTimeoutError",
    "SystemParameters",
    "WrongPasswordError",
    "open_serial",
]
