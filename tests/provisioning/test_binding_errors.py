"""read_inventory's typed errors, one per device and failure, each naming the device and what to
check, Indonesian first (the hardware reads are replaced here; tests/integration/
test_binding_inventory.py runs them against pcscd, the pty module and the MicroPython MCU)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from edge_agent.config import AgentConfig
from edge_agent.config.sections import DeviceConfig, GatewayConfig, ReaderConfig, SupervisorConfig
from hardware import inventory
from hardware.card.reader_info import ReaderInfo
from hardware.card.sam_info import SamInfo
from hardware.errors import CardTimeoutError, NoReaderError, SamMissingError
from hardware.fingerprint.errors import SensorPortError, SensorTimeoutError
from hardware.inventory import SensorInfo
from hardware.supervisor.errors import (
    NakReason,
    SupervisorPortError,
    SupervisorRefusedError,
    SupervisorTimeoutError,
)
from provisioning.binding import DeviceMissingError, read_inventory
from provisioning.errors import EXIT_HARDWARE

NOWHERE = Path("/nonexistent")
CONFIG = AgentConfig(
    device=DeviceConfig(id="kiosk-1"),
    reader=ReaderConfig("RDR-X", "SAM-X"),
    gateway=GatewayConfig("https://127.0.0.1:9", NOWHERE, NOWHERE, NOWHERE),
    supervisor=SupervisorConfig(port="/dev/ttyMCU"),
)
READER = ReaderInfo("Virtual PCD 00 00", "Virtual PCD 00 01", None, SamInfo("SAM-1", True))
SENSOR = SensorInfo("FPM-1", {"baud": 57600})


def _fails(exc: Exception) -> Callable[..., object]:
    def read(*_: object, **__: object) -> object:
        raise exc

    return read


@pytest.fixture
def devices(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setattr(inventory, "read_reader", lambda *a, **k: READER)
    monkeypatch.setattr(inventory, "read_sensor", lambda *a, **k: SENSOR)
    monkeypatch.setattr(inventory, "read_mcu", lambda *a, **k: "E661")
    return monkeypatch


def test_everything_answers(devices: pytest.MonkeyPatch) -> None:
    inv = read_inventory(CONFIG)
    assert inv.reader_id == "Virtual-PCD-00-00"  # no serial: the name made an id
    assert (inv.sam_serial, inv.sensor_serial, inv.mcu_id) == ("SAM-1", "FPM-1", "E661")


@pytest.mark.parametrize(
    ("part", "error", "device", "code", "hint"),
    [
        ("read_reader", NoReaderError("no service"), "reader", "READER_MISSING", "pcscd"),
        ("read_reader", SamMissingError("no SAM"), "sam", "SAM_MISSING", "SAM"),
        ("read_reader", CardTimeoutError("slow"), "sam", "SAM_NOT_ANSWERING", "SAM"),
        ("read_sensor", SensorTimeoutError("silent"), "sensor", "SENSOR_MISSING", "UART"),
        ("read_sensor", SensorPortError("busy"), "sensor", "SENSOR_PORT", "kiosk-agent"),
        ("read_mcu", SupervisorTimeoutError("silent"), "mcu", "MCU_MISSING", "UART"),
        ("read_mcu", SupervisorPortError("busy"), "mcu", "MCU_PORT", "kiosk-agent"),
        (
            "read_mcu",
            SupervisorRefusedError("refused", NakReason.NO_ID),
            "mcu",
            "MCU_NO_ID",
            "firmware",
        ),
    ],
)
def test_each_device_missing_is_named(
    devices: pytest.MonkeyPatch, part: str, error: Exception, device: str, code: str, hint: str
) -> None:
    devices.setattr(inventory, part, _fails(error))
    with pytest.raises(DeviceMissingError) as caught:
        read_inventory(CONFIG)
    err = caught.value
    assert (err.device, err.code, err.exit_code) == (device, code, EXIT_HARDWARE)
    assert hint in err.message_en and err.message_id != err.message_en
    assert err.as_json()["code"] == code
    assert err.__cause__ is error  # translated at the boundary


def test_no_supervisor_no_mcu_read(devices: pytest.MonkeyPatch) -> None:
    devices.setattr(inventory, "read_mcu", _fails(AssertionError("must not be asked")))
    no_mcu = AgentConfig(CONFIG.device, CONFIG.reader, CONFIG.gateway)
    assert read_inventory(no_mcu).mcu_id is None
