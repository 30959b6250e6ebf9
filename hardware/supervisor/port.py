"""Opening the MCU's UART with pyserial (the driver itself takes any open port)."""

from __future__ import annotations

import serial

from hardware.supervisor.errors import SupervisorPortError

DEFAULT_BAUD = 115200
DEFAULT_READ_TIMEOUT = 0.05


def open_port(
    path: str, baud: int = DEFAULT_BAUD, *, timeout: float = DEFAULT_READ_TIMEOUT
) -> serial.Serial:
    """Open the MCU's UART (8N1, exclusive) with a short read timeout for the reader thread."""
    try:
        return serial.Serial(
            path, baudrate=baud, timeout=timeout, write_timeout=1.0, exclusive=True
        )
    except (serial.SerialException, OSError) as err:
        raise SupervisorPortError(f"cannot open the supervisor MCU port {path}") from err
