"""The real driver (pyserial) against the simulated fingerprint module on a real pty."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import serial

from hardware import TRAFFIC
from hardware.fingerprint import FingerprintModule, MatchResult, open_serial
from hardware.fingerprint.errors import (
    FeatureExtractionError,
    FingerTimeoutError,
    MalformedPacketError,
    NoFingerError,
    PasswordRequiredError,
    PoorImageError,
    SensorCancelledError,
    SensorPortError,
    SensorTimeoutError,
    WrongPasswordError,
)
from hardware.fingerprint.packet import Instruction, PacketId, build_ack, build_packet
from simulators.fingerprint import FingerprintSim, wire_time
from simulators.personas import synthetic_template

FAST_BAUD = 921600
TEMPLATE = synthetic_template("pty-test/right_index")
OTHER_TEMPLATE = synthetic_template("pty-test/left_index")


@pytest.fixture
def sim() -> Iterator[FingerprintSim]:
    with FingerprintSim(FAST_BAUD) as simulator:
        yield simulator


@pytest.fixture
def port(sim: FingerprintSim) -> Iterator[serial.Serial]:
    opened = open_serial(sim.port_path, sim.baud, timeout=1.0)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def module(port: serial.Serial) -> FingerprintModule:
    return FingerprintModule(port, timeout=1.0)


def stepping_clock(step: float) -> Callable[[], float]:
    """A clock that moves `step` seconds each time it is read."""
    now = [0.0]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


def test_match_at_57600_baud_takes_the_wire_time() -> None:
    with FingerprintSim(57600) as sim:
        port = open_serial(sim.port_path, 57600, timeout=2.0)
        try:
            module = FingerprintModule(port, timeout=2.0)
            sim.place(TEMPLATE)
            template = bytearray(TEMPLATE)
            started = time.monotonic()
            result = module.verify_finger(template, finger_timeout=5.0)
            elapsed = time.monotonic() - started
        finally:
            port.close()
    assert result.matched
    assert 80 <= result.score <= 200
    assert template == TEMPLATE  # the caller's buffer is the caller's to wipe
    # four 139-byte data packets at 57600 baud: the template alone is ~97 ms on the wire
    assert elapsed >= wire_time(4 * 139, 57600)


def test_same_finger_matches(sim: FingerprintSim, module: FingerprintModule) -> None:
    sim.place(TEMPLATE)
    result = module.verify_finger(TEMPLATE, finger_timeout=5.0)
    assert result.matched
    assert result.score > 0


def test_other_finger_is_a_mismatch_not_an_error(
    sim: FingerprintSim, module: FingerprintModule
) -> None:
    sim.place(OTHER_TEMPLATE)
    assert module.verify_finger(TEMPLATE, finger_timeout=5.0) == MatchResult(False, 0)
    sim.place_other()
    assert not module.verify_finger(TEMPLATE, finger_timeout=5.0).matched


def test_finger_placed_while_the_module_waits(
    sim: FingerprintSim, module: FingerprintModule
) -> None:
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(module.verify_finger, TEMPLATE, finger_timeout=10.0)
        assert sim.wait_for(lambda s: s.commands.get(Instruction.GEN_IMG, 0) >= 3, 5)
        sim.place(TEMPLATE)
        assert future.result(timeout=5).matched


def test_a_finger_left_on_the_sensor_is_not_a_fresh_press(
    sim: FingerprintSim, module: FingerprintModule
) -> None:
    sim.place(OTHER_TEMPLATE)
    assert not module.verify_finger(TEMPLATE, finger_timeout=5.0).matched
    sim.place(TEMPLATE)  # swapped without lifting: the sensor never saw it empty
    with pytest.raises(FingerTimeoutError, match="not lifted"):
        module.verify_finger(
            TEMPLATE, finger_timeout=1.0, clock=stepping_clock(0.25), fresh_press=True
        )
    assert sim.stats.empty_captures == 0


def test_a_fresh_press_after_a_lift(sim: FingerprintSim, module: FingerprintModule) -> None:
    sim.touch(OTHER_TEMPLATE)  # one press, then lifted
    assert not module.verify_finger(TEMPLATE, finger_timeout=5.0).matched
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(module.verify_finger, TEMPLATE, finger_timeout=10.0, fresh_press=True)
        assert sim.wait_for(lambda s: s.empty_captures >= 1, 5)
        sim.touch(TEMPLATE)
        assert future.result(timeout=5).matched
    assert sim.stats.empty_captures >= 1


def test_no_finger_until_the_timeout(sim: FingerprintSim, module: FingerprintModule) -> None:
    sim.lift()
    with pytest.raises(FingerTimeoutError) as info:
        module.verify_finger(TEMPLATE, finger_timeout=1.0, clock=stepping_clock(0.25))
    assert isinstance(info.value, NoFingerError)
    assert info.value.code == 0x02
    assert sim.stats.commands[Instruction.GEN_IMG] == 4  # polled until the clock passed 1 s
    assert Instruction.DOWN_CHAR not in sim.stats.commands  # the template never left


def test_cancel_ends_the_wait(sim: FingerprintSim, module: FingerprintModule) -> None:
    cancel = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(module.verify_finger, TEMPLATE, finger_timeout=30.0, cancel=cancel)
        assert sim.wait_for(lambda s: s.commands.get(Instruction.GEN_IMG, 0) >= 1, 5)
        cancel.set()
        with pytest.raises(SensorCancelledError):
            future.result(timeout=5)


@pytest.mark.parametrize(
    ("code", "error"), [(0x06, PoorImageError), (0x07, FeatureExtractionError)]
)
def test_poor_image(
    sim: FingerprintSim, module: FingerprintModule, code: int, error: type[PoorImageError]
) -> None:
    sim.poor_image(code)
    with pytest.raises(PoorImageError) as info:
        module.verify_finger(TEMPLATE, finger_timeout=5.0)
    assert type(info.value) is error
    assert info.value.code == code


def test_silent_module_times_out_within_the_read_timeout(sim: FingerprintSim) -> None:
    port = open_serial(sim.port_path, sim.baud, timeout=0.3)
    try:
        module = FingerprintModule(port, timeout=0.3)
        sim.set_unresponsive(True)
        started = time.monotonic()
        with pytest.raises(SensorTimeoutError):
            module.capture_image()
        elapsed = time.monotonic() - started
        assert 0.3 <= elapsed < 0.8
        sim.set_unresponsive(False)
        sim.place(TEMPLATE)
        module.capture_image()  # back to normal
    finally:
        port.close()


def test_answer_cut_short_times_out(sim: FingerprintSim, port: serial.Serial) -> None:
    sim.send_raw_next(bytes(build_ack(0x00))[:-3])
    with pytest.raises(SensorTimeoutError):
        FingerprintModule(port, timeout=0.1).capture_image()


@pytest.mark.parametrize(
    "answer",
    [
        b"\x00\x11\x22 line noise \xff\xfe",
        bytes.fromhex("EF01FFFFFFFF0700030000FF"),  # bad checksum
        bytes.fromhex("EF0112345678070003000041"),  # another module's address
        bytes(build_packet(PacketId.END_DATA, b"\x00")),  # a data packet instead of an ack
    ],
)
def test_garbage_answer_is_malformed(
    sim: FingerprintSim, module: FingerprintModule, answer: bytes
) -> None:
    sim.send_raw_next(answer)
    with pytest.raises(MalformedPacketError):
        module.capture_image()
    sim.place(TEMPLATE)
    module.capture_image()  # the next exchange starts clean


def test_password(sim: FingerprintSim) -> None:
    with FingerprintSim(FAST_BAUD, password=0x5EC12E7) as locked:
        port = open_serial(locked.port_path, FAST_BAUD, timeout=1.0)
        try:
            with pytest.raises(PasswordRequiredError):
                FingerprintModule(port, timeout=1.0).capture_image()
            with pytest.raises(WrongPasswordError) as info:
                FingerprintModule(port, password=1, timeout=1.0).verify_password()
            assert info.value.code == 0x13
            good = FingerprintModule(port, password=0x5EC12E7, timeout=1.0)
            good.verify_password()
            with pytest.raises(NoFingerError):
                good.capture_image()
        finally:
            port.close()


def test_system_parameters(sim: FingerprintSim, module: FingerprintModule) -> None:
    params = module.read_system_parameters()
    assert params.packet_size == 128
    assert params.address == 0xFFFFFFFF
    assert params.baud == FAST_BAUD


@pytest.mark.parametrize("packet_size", [32, 256])
def test_template_round_trip(packet_size: int) -> None:
    with FingerprintSim(FAST_BAUD, packet_size=packet_size) as sim:
        port = open_serial(sim.port_path, FAST_BAUD, timeout=1.0)
        try:
            module = FingerprintModule(port, packet_size=packet_size, timeout=1.0)
            module.download_template(1, TEMPLATE)
            uploaded = module.upload_template(1)
            assert uploaded == TEMPLATE
            sim.place(TEMPLATE)
            assert module.verify_finger(TEMPLATE, finger_timeout=1.0).matched
        finally:
            port.close()


def test_template_never_reaches_the_log(
    sim: FingerprintSim, module: FingerprintModule, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(TRAFFIC)
    sim.place(TEMPLATE)
    assert module.verify_finger(bytearray(TEMPLATE), finger_timeout=5.0).matched
    module.upload_template(1).clear()
    text = caplog.text
    assert "tx ef 01 ff ff ff ff 01 00 03 01 00 05" in text  # traffic is there...
    assert "redacted" in text
    for start in range(0, len(TEMPLATE), 8):  # ...but no 8-byte run of the template
        chunk = TEMPLATE[start : start + 8]
        assert chunk.hex(" ") not in text
        assert chunk.hex() not in text


def test_no_traffic_logged_by_default(
    sim: FingerprintSim, module: FingerprintModule, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim.place(TEMPLATE)
    module.verify_finger(TEMPLATE, finger_timeout=5.0)
    assert not [r for r in caplog.records if r.levelno < logging.DEBUG]


def test_simulator_survives_garbage_and_counts_it(
    sim: FingerprintSim, port: serial.Serial, module: FingerprintModule
) -> None:
    garbage = b"\x13\x37" * 20 + bytes.fromhex("EF01FFFFFFFF0100030100FF") + b"\xef\x01\xff"
    port.write(garbage)
    assert sim.wait_for(lambda s: s.bytes_received >= len(garbage) and s.pending == 0, 5)
    stats = sim.stats
    assert stats.bad_packets >= 1
    assert stats.noise_bytes_runs >= 1
    sim.place(TEMPLATE)
    assert module.verify_finger(TEMPLATE, finger_timeout=5.0).matched
    assert sim.stats.packets > stats.packets


def test_unplugged_module_is_a_port_error(sim: FingerprintSim, module: FingerprintModule) -> None:
    sim.close()
    with pytest.raises((SensorPortError, SensorTimeoutError)):
        module.capture_image()


def test_missing_port_is_a_port_error() -> None:
    with pytest.raises(SensorPortError):
        open_serial("/dev/does-not-exist-fingerprint", 57600)


def test_the_module_reports_its_chip_serial(module: FingerprintModule) -> None:
    assert module.read_chip_serial() == "FPM-SIM-0001"


def test_a_binary_chip_serial_is_hex() -> None:
    with FingerprintSim(FAST_BAUD, chip_serial=b"\x01\xab\x00\x02") as sim:
        port = open_serial(sim.port_path, sim.baud, timeout=1.0)
        try:
            assert FingerprintModule(port, timeout=1.0).read_chip_serial() == "01AB0002"
        finally:
            port.close()
