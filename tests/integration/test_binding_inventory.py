"""read_inventory against the real pcscd/vpcd with the virtual SAM, the fingerprint module on a
pty and the supervisor MCU on MicroPython: ids come from the devices, and each missing or silent
device is a typed error naming it. (Here rather than tests/provisioning: libpcsclite talks to one
pcscd per process, the session's `pcscd` fixture of this folder.)"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from edge_agent.config import AgentConfig
from edge_agent.config.sections import (
    DeviceConfig,
    FingerprintConfig,
    GatewayConfig,
    ReaderConfig,
    SupervisorConfig,
)
from kiosk_sim.pcscd import PcscdProcess
from provisioning.binding import (
    DeviceMissingError,
    SamNotActivatedError,
    read_inventory,
    require_activated,
)
from provisioning.errors import EXIT_HARDWARE
from simulators.card import VirtualSam, card_for
from simulators.fingerprint import FingerprintSim
from simulators.mcu import McuSim
from simulators.vpcd import VirtualSlot

pytestmark = pytest.mark.middleware
BAUD = 921600


@pytest.fixture(scope="module")
def sam_slot(pcscd: PcscdProcess) -> Iterator[tuple[VirtualSlot, VirtualSam]]:
    slot = VirtualSlot(pcscd.sam_port, reader_serial=b"RDR-TEST-7")
    sam = VirtualSam(serial=b"SAM-TEST-7")
    slot.insert(sam)
    yield slot, sam
    slot.close()


@pytest.fixture(scope="module")
def sensor() -> Iterator[FingerprintSim]:
    with FingerprintSim(BAUD, chip_serial=b"FPM-TEST-7") as sim:
        yield sim


@pytest.fixture(scope="module")
def mcu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McuSim]:
    with McuSim(tmp_path_factory.mktemp("mcu"), board_id=bytes.fromhex("0a0b0c0d0e0f1011")) as sim:
        yield sim


def _config(pcscd: PcscdProcess, sensor_port: str, mcu_port: str | None) -> AgentConfig:
    nowhere = Path("/nonexistent")
    return AgentConfig(
        device=DeviceConfig(id="kiosk-test-7"),
        reader=ReaderConfig("RDR-X", "SAM-X", pcscd.card_reader, pcscd.sam_reader),
        gateway=GatewayConfig("https://127.0.0.1:9", nowhere, nowhere, nowhere),
        fingerprint=FingerprintConfig(port=sensor_port, baud=BAUD),
        supervisor=None if mcu_port is None else SupervisorConfig(port=mcu_port),
    )


@pytest.fixture
def config(
    pcscd: PcscdProcess,
    sam_slot: tuple[VirtualSlot, VirtualSam],
    sensor: FingerprintSim,
    mcu: McuSim,
) -> AgentConfig:
    sam_slot[1].activated = True
    if not sam_slot[0].inserted:
        sam_slot[0].insert(sam_slot[1])
    return _config(pcscd, sensor.port_path, mcu.port_path)


def test_ids_are_read_from_the_hardware(config: AgentConfig) -> None:
    inv = read_inventory(config)
    assert inv.reader_name == config.reader.card_reader
    assert (inv.reader_serial, inv.sam_serial, inv.sam_activated) == (
        "RDR-TEST-7",
        "SAM-TEST-7",
        True,
    )
    assert inv.sensor_serial == "FPM-TEST-7"
    assert inv.sensor_params["baud"] == BAUD and inv.sensor_params["library_size"] == 1000
    assert inv.mcu_id == "0A0B0C0D0E0F1011"
    assert inv.bindings() == {
        "reader": "RDR-TEST-7",
        "sam": "SAM-TEST-7",
        "sensor": "FPM-TEST-7",
        "mcu": "0A0B0C0D0E0F1011",
    }
    require_activated(inv)


def test_a_sam_not_activated_is_reported_as_such(
    config: AgentConfig, sam_slot: tuple[VirtualSlot, VirtualSam]
) -> None:
    sam_slot[1].activated = False
    inv = read_inventory(config)
    assert inv.sam_serial == "SAM-TEST-7" and not inv.sam_activated
    with pytest.raises(SamNotActivatedError) as caught:
        require_activated(inv)
    assert caught.value.code == "SAM_NOT_ACTIVATED" and "Dukcapil" in caught.value.message_id


def test_no_sam_in_its_slot(config: AgentConfig, sam_slot: tuple[VirtualSlot, VirtualSam]) -> None:
    sam_slot[0].remove()
    with pytest.raises(DeviceMissingError) as caught:
        read_inventory(config)
    assert caught.value.device == "sam" and caught.value.exit_code == EXIT_HARDWARE


def test_an_id_card_in_the_sam_slot(
    config: AgentConfig, sam_slot: tuple[VirtualSlot, VirtualSam]
) -> None:
    sam_slot[0].remove()
    sam_slot[0].insert(card_for("ayu"))
    try:
        with pytest.raises(DeviceMissingError) as caught:
            read_inventory(config)
        assert caught.value.code == "SAM_MISSING"
    finally:
        sam_slot[0].remove()


def test_no_such_reader(config: AgentConfig) -> None:
    wrong = replace(config, reader=replace(config.reader, card_reader="Gemalto Nowhere"))
    with pytest.raises(DeviceMissingError) as caught:
        read_inventory(wrong)
    assert caught.value.device == "reader" and "pcscd" in caught.value.message_id


def test_a_silent_fingerprint_port(config: AgentConfig) -> None:
    import os

    master, slave = os.openpty()  # a port where nothing answers
    try:
        silent = replace(config, fingerprint=FingerprintConfig(port=os.ttyname(slave), baud=BAUD))
        with pytest.raises(DeviceMissingError) as caught:
            read_inventory(silent)
    finally:
        os.close(master)
        os.close(slave)
    assert caught.value.device == "sensor"
    assert "UART" in caught.value.message_en


def test_a_missing_fingerprint_port(config: AgentConfig, tmp_path: Path) -> None:
    gone = replace(config, fingerprint=FingerprintConfig(port=str(tmp_path / "ttyNone")))
    with pytest.raises(DeviceMissingError) as caught:
        read_inventory(gone)
    assert caught.value.code == "SENSOR_MISSING"


def test_a_silent_mcu(config: AgentConfig) -> None:
    import os

    master, slave = os.openpty()
    try:
        silent = replace(config, supervisor=SupervisorConfig(port=os.ttyname(slave)))
        with pytest.raises(DeviceMissingError) as caught:
            read_inventory(silent)
    finally:
        os.close(master)
        os.close(slave)
    assert caught.value.device == "mcu" and caught.value.code == "MCU_MISSING"


def test_no_supervisor_configured(config: AgentConfig) -> None:
    assert read_inventory(replace(config, supervisor=None)).mcu_id is None


def test_the_agent_check_names_a_missing_reader_or_sam(
    pcscd: PcscdProcess, sam_slot: tuple[VirtualSlot, VirtualSam], config: AgentConfig
) -> None:
    from edge_agent.wiring.devicecheck import pcsc_missing

    assert pcsc_missing(pcscd.card_reader, pcscd.sam_reader)() == ()
    assert pcsc_missing("Gemalto Nowhere", pcscd.sam_reader)() == ("reader",)
    sam_slot[0].remove()
    assert pcsc_missing(pcscd.card_reader, pcscd.sam_reader)() == ("sam",)
