"""The one interface of a serial port the UART drivers (fingerprint module, supervisor MCU) take.

pyserial's `serial.Serial` has it; the drivers never open a port themselves (each package has
an `open_*` helper for that), so tests and simulators pass any object of this shape.
"""

from __future__ import annotations

from typing import Protocol


class SerialPort(Protocol):
    """What a driver needs of a serial port.

    The port must have a read timeout (a fraction of a second for a reader thread, which checks
    for shutdown between reads); a driver may change `timeout` to bound one wait.
    """

    timeout: float | None

    @property
    def in_waiting(self) -> int:
        """Bytes received and not yet read."""
        ...

    def read(self, size: int = 1) -> bytes:
        """Read up to `size` bytes, waiting at most `timeout` seconds."""
        ...

    def write(self, data: bytes | bytearray, /) -> int | None:
        """Write all bytes."""
        ...

    def reset_input_buffer(self) -> None:
        """Drop whatever has been received and not read."""
        ...
