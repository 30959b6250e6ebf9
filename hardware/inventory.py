"""What is installed, read from the devices themselves: the small read calls of each driver.

Blocking calls for the technician's tool (provisioning/binding.py) and the agent's device check
(edge_agent/wiring/devicecheck.py). Each opens its device, asks it who it is, and closes it; each
raises the device's own HardwareError subclass when the device is missing or silent. No personal
data passes here: only serials, names and settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from hardware.card.reader_info import ReaderInfo, read_reader_info
from hardware.card.sam_info import SamInfo


@dataclass(frozen=True, slots=True)
class SensorInfo:
    """The fingerprint module's chip serial and its system parameters (ReadSysPara)."""

    serial: str
    params: dict[str, int | str]


def read_reader(card_reader: str, sam_reader: str, *, timeout: float = 3.0) -> ReaderInfo:
    """The reader's PC/SC names and serial, and its SAM's serial and activation state."""
    return read_reader_info(card_reader, sam_reader, timeout=timeout)


def read_sensor(
    port: str, baud: int, *, address: int, password: int, timeout: float = 2.0
) -> SensorInfo:
    """Open the module's UART, unlock it if it has a password, read its serial and settings."""
    from hardware.fingerprint.module import FingerprintModule, open_serial

    serial_port = open_serial(port, baud, timeout=timeout)
    try:
        module = FingerprintModule(serial_port, address=address, password=password, timeout=timeout)
        if password:
            module.verify_password()
        params = module.read_system_parameters()
        serial = module.read_chip_serial()
    finally:
        serial_port.close()
    return SensorInfo(
        serial,
        {
            "system_id": params.system_id,
            "library_size": params.library_size,
            "security_level": params.security_level,
            "address": f"{params.address:08X}",
            "packet_size": params.packet_size,
            "baud": params.baud,
        },
    )


def read_mcu(port: str, baud: int, *, timeout: float = 2.0) -> str:
    """Open the supervisor MCU's UART and read its board id (upper-case hex)."""
    from hardware.supervisor import SupervisorLink, open_port

    serial_port = open_port(port, baud)
    try:
        with SupervisorLink(serial_port, response_timeout=timeout) as link:
            return link.read_identity().board_id
    finally:
        serial_port.close()


__all__ = ["ReaderInfo", "SamInfo", "SensorInfo", "read_mcu", "read_reader", "read_sensor"]
