"""Property tests: malformed sensor traffic only ever yields SensorError subclasses.

The codec is fed random and mutated packets; the real driver is fed random answers from a
misbehaving simulated module over a real pty; the simulator is fed random bytes from the host.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest
import serial
from hypothesis import assume, given
from hypothesis import strategies as st

from hardware.errors import SensorError
from hardware.fingerprint.errors import MalformedPacketError
from hardware.fingerprint.module import FingerprintModule, open_serial
from hardware.fingerprint.packet import (
    HEADER,
    Packet,
    PacketId,
    PacketParser,
    build_ack,
    build_packet,
    parse_match,
    parse_packet,
    parse_system_parameters,
)
from simulators.fingerprint import FingerprintSim

pytestmark = pytest.mark.fuzz

FAST_BAUD = 1_000_000

pids = st.sampled_from(list(PacketId))
payloads = st.binary(max_size=256)
addresses = st.sampled_from([0xFFFFFFFF, 0, 0x12345678])


@st.composite
def valid_frames(draw: st.DrawFn) -> bytes:
    pid = draw(pids)
    min_size = 1 if pid in (PacketId.COMMAND, PacketId.ACK) else 0
    return bytes(build_packet(pid, draw(st.binary(min_size=min_size, max_size=256))))


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    frame = bytearray(draw(valid_frames()))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "drop"]))
        if kind == "cut":
            frame = frame[: draw(st.integers(0, len(frame)))]
        elif not frame:
            continue
        else:
            at = draw(st.integers(0, len(frame) - 1))
            if kind == "flip":
                frame[at] ^= draw(st.integers(1, 255))
            elif kind == "insert":
                frame.insert(at, draw(st.integers(0, 255)))
            else:
                del frame[at]
    return bytes(frame)


@given(st.binary(max_size=300), st.one_of(st.none(), addresses))
def test_parse_random_bytes(data: bytes, address: int | None) -> None:
    with contextlib.suppress(MalformedPacketError):
        parse_packet(data, address)


@given(valid_frames(), st.integers(0, 400), st.integers(1, 255))
def test_any_single_byte_change_is_caught(frame: bytes, position: int, delta: int) -> None:
    damaged = bytearray(frame)
    damaged[position % len(frame)] ^= delta
    with pytest.raises(MalformedPacketError):
        parse_packet(damaged)


@given(mutated_frames())
def test_parse_mutated_packets(data: bytes) -> None:
    try:
        packet = parse_packet(data)
    except MalformedPacketError:
        return
    assert build_packet(packet.pid, packet.payload, packet.address) == data


@given(st.lists(st.binary(max_size=80), max_size=12), st.one_of(st.none(), addresses))
def test_stream_parser_never_raises(chunks: list[bytes], address: int | None) -> None:
    parser = PacketParser(address)
    events: list[Packet | MalformedPacketError] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    events += parser.expire()
    assert parser.pending == 0
    assert all(isinstance(e, Packet | MalformedPacketError) for e in events)


@given(
    st.binary(max_size=100),
    valid_frames(),
    st.binary(max_size=100),
    st.lists(st.integers(1, 60), max_size=20),
)
def test_stream_parser_finds_a_packet_after_garbage(
    before: bytes, frame: bytes, after: bytes, cuts: list[int]
) -> None:
    assume(HEADER not in before)
    wire = before + frame + after
    parser = PacketParser()
    events: list[Packet | MalformedPacketError] = []
    position = 0
    for cut in cuts:
        events += parser.feed(wire[position : position + cut])
        position += cut
    events += parser.feed(wire[position:])
    events += parser.expire()
    packets = [e for e in events if isinstance(e, Packet)]
    assert packets
    first = packets[0]
    assert build_packet(first.pid, first.payload, first.address) == frame


@given(st.binary(min_size=1, max_size=40))
def test_ack_decoders_on_random_payloads(payload: bytes) -> None:
    packet = parse_packet(build_ack(payload[0], payload[1:]))
    for decode in (parse_match, parse_system_parameters):
        with contextlib.suppress(SensorError):
            decode(packet)


# --- through the real pty ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[FingerprintSim]:
    with FingerprintSim(FAST_BAUD) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def port(sim: FingerprintSim) -> Iterator[serial.Serial]:
    opened = open_serial(sim.port_path, FAST_BAUD)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="module")
def module(port: serial.Serial) -> FingerprintModule:
    return FingerprintModule(port, timeout=0.02)  # short: truncated answers end in a timeout


@st.composite
def misbehaving_answers(draw: st.DrawFn) -> bytes:
    good = [
        build_ack(0x00),
        build_ack(0x00, bytes.fromhex("0064")),
        build_ack(0x08, bytes(2)),
        build_ack(0x00, bytes(16)),
        build_ack(draw(st.integers(0, 255)), draw(st.binary(max_size=20))),
        build_packet(PacketId.DATA, draw(st.binary(max_size=64))),
    ]
    return draw(
        st.one_of(
            st.binary(min_size=1, max_size=64),
            st.sampled_from(good).map(bytes),
            st.sampled_from(good)
            .map(bytes)
            .flatmap(
                lambda frame: st.integers(1, 8).map(lambda i: frame[:i] + b"\xee" + frame[i:])
            ),
            st.sampled_from(good)
            .map(bytes)
            .flatmap(
                lambda frame: st.tuples(st.integers(0, len(frame) - 1), st.integers(1, 255)).map(
                    lambda d: frame[: d[0]] + bytes([frame[d[0]] ^ d[1]]) + frame[d[0] + 1 :]
                )
            ),
        )
    )


@given(misbehaving_answers(), st.sampled_from(["capture", "match", "sys_para", "image"]))
def test_driver_survives_a_misbehaving_module(
    sim: FingerprintSim, module: FingerprintModule, answer: bytes, command: str
) -> None:
    sim.send_raw_next(answer)
    calls: dict[str, Callable[[], object]] = {
        "capture": module.capture_image,
        "match": module.match,
        "sys_para": module.read_system_parameters,
        "image": lambda: module.image_to_buffer(1),
    }
    with contextlib.suppress(SensorError):
        calls[command]()


@given(st.binary(min_size=1, max_size=300))
def test_simulator_survives_garbage_from_the_host(
    sim: FingerprintSim, port: serial.Serial, garbage: bytes
) -> None:
    assume(b"\xef\x01\xff\xff\xff\xff\x01" not in garbage)  # no stray command with a valid sum
    before = sim.stats.bytes_received
    port.write(garbage)
    assert sim.wait_for(lambda s: s.bytes_received >= before + len(garbage) and s.pending == 0, 5)
    params = FingerprintModule(port, timeout=2.0).read_system_parameters()
    assert params.packet_size == 128
