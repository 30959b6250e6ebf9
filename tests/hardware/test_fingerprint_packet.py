"""Golden vectors and behaviour of the fingerprint packet codec and its error table."""

from __future__ import annotations

import pytest

from hardware.errors import SensorError
from hardware.fingerprint.errors import (
    CONFIRMATION_CODES,
    ConfirmationError,
    FeatureExtractionError,
    FlashError,
    FrameFault,
    MalformedPacketError,
    NoFingerError,
    PoorImageError,
    UnknownConfirmationError,
    WrongPasswordError,
    error_for_code,
)
from hardware.fingerprint.packet import (
    Instruction,
    MatchResult,
    Packet,
    PacketId,
    PacketParser,
    SystemParameters,
    build_ack,
    build_command,
    build_data_packets,
    build_packet,
    checksum,
    encode_system_parameters,
    parse_match,
    parse_packet,
    parse_system_parameters,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# Commands as module manuals and bus traces show them (default address, password 0).
GOLDEN_COMMANDS = [
    (Instruction.GEN_IMG, b"", "EF01 FFFFFFFF 01 0003 01 0005"),
    (Instruction.IMG2TZ, b"\x01", "EF01 FFFFFFFF 01 0004 02 01 0008"),
    (Instruction.IMG2TZ, b"\x02", "EF01 FFFFFFFF 01 0004 02 02 0009"),
    (Instruction.MATCH, b"", "EF01 FFFFFFFF 01 0003 03 0007"),
    (Instruction.UP_CHAR, b"\x01", "EF01 FFFFFFFF 01 0004 08 01 000E"),
    (Instruction.DOWN_CHAR, b"\x02", "EF01 FFFFFFFF 01 0004 09 02 0010"),
    (Instruction.READ_SYS_PARA, b"", "EF01 FFFFFFFF 01 0003 0F 0013"),
    (Instruction.VFY_PWD, bytes(4), "EF01 FFFFFFFF 01 0007 13 00000000 001B"),
]

GOLDEN_ACKS = [
    (0x00, b"", "EF01 FFFFFFFF 07 0003 00 000A"),
    (0x02, b"", "EF01 FFFFFFFF 07 0003 02 000C"),
    (0x00, h("0064"), "EF01 FFFFFFFF 07 0005 00 0064 0070"),
]

# A ReadSysPara answer as captured from a module: status 4, 200 templates, level 3, 128-byte
# packets, 57600 baud.
SYS_PARA_ACK = h("EF01FFFFFFFF0700130000040000 00C8 0003 FFFFFFFF 0002 0006 04ED".replace(" ", ""))


@pytest.mark.parametrize(("instruction", "params", "wire"), GOLDEN_COMMANDS)
def test_command_golden_vectors(instruction: Instruction, params: bytes, wire: str) -> None:
    frame = build_command(instruction, params)
    assert frame == h(wire)
    packet = parse_packet(frame)
    assert packet.pid is PacketId.COMMAND
    assert packet.payload == bytes([instruction]) + params


@pytest.mark.parametrize(("code", "params", "wire"), GOLDEN_ACKS)
def test_ack_golden_vectors(code: int, params: bytes, wire: str) -> None:
    assert build_ack(code, params) == h(wire)
    assert parse_packet(h(wire)).payload == bytes([code]) + params


def test_checksum_is_low_16_bits_of_the_sum() -> None:
    payload = b"\xff" * 256
    assert checksum(PacketId.DATA, payload) == (2 + 0x01 + 0x02 + 0xFF * 256) & 0xFFFF


def test_other_address_is_encoded_and_checked() -> None:
    frame = build_command(Instruction.GEN_IMG, address=0x12345678)
    assert frame[2:6] == h("12345678")
    assert parse_packet(frame, 0x12345678).address == 0x12345678
    with pytest.raises(MalformedPacketError) as info:
        parse_packet(frame)
    assert info.value.fault is FrameFault.ADDRESS
    assert parse_packet(frame, None).address == 0x12345678


def test_system_parameters_from_a_module_trace() -> None:
    params = parse_system_parameters(parse_packet(SYS_PARA_ACK))
    assert params == SystemParameters(
        status_register=4,
        system_id=0,
        library_size=200,
        security_level=3,
        address=0xFFFFFFFF,
        packet_size=128,
        baud=57600,
    )
    assert build_ack(0, encode_system_parameters(params)) == SYS_PARA_ACK


def test_match_answers() -> None:
    assert parse_match(parse_packet(build_ack(0x00, h("00C8")))) == MatchResult(True, 200)
    assert parse_match(parse_packet(build_ack(0x08, h("0000")))) == MatchResult(False, 0)
    with pytest.raises(MalformedPacketError):
        parse_match(parse_packet(build_ack(0x00, h("00"))))
    with pytest.raises(FlashError):
        parse_match(parse_packet(build_ack(0x18)))


def test_data_packets_split_a_template() -> None:
    template = bytearray(range(256)) * 2
    frames = list(build_data_packets(template, 128))
    assert [parse_packet(f).pid for f in frames] == [PacketId.DATA] * 3 + [PacketId.END_DATA]
    assert all(len(f) == 128 + 11 for f in frames)
    assert b"".join(bytes(parse_packet(f).payload) for f in frames) == template
    assert template == bytearray(range(256)) * 2  # the caller's buffer is left alone
    odd = list(build_data_packets(b"\x01" * 70, 32))
    assert [len(parse_packet(f).payload) for f in odd] == [32, 32, 6]
    with pytest.raises(ValueError):
        list(build_data_packets(b"x", 100))
    with pytest.raises(ValueError):
        list(build_data_packets(b"", 32))


def test_build_refuses_impossible_packets() -> None:
    with pytest.raises(ValueError):
        build_packet(PacketId.DATA, bytes(257))
    with pytest.raises(ValueError):
        build_packet(PacketId.DATA, b"", address=1 << 32)


@pytest.mark.parametrize(
    ("frame", "fault"),
    [
        (h("EF02FFFFFFFF0100030100 05".replace(" ", "")), FrameFault.NOISE),
        (h("EF01FFFFFFFF0300030100 07".replace(" ", "")), FrameFault.PACKET_ID),
        (h("EF01FFFFFFFF01000101"), FrameFault.LENGTH),
        (h("EF01FFFFFFFF01 0105" + "00" * 261), FrameFault.LENGTH),
        (h("EF01FFFFFFFF0100030100"), FrameFault.TRUNCATED),
        (h("EF01FFFFFFFF01"), FrameFault.TRUNCATED),
        (h("EF01FFFFFFFF010003010006"), FrameFault.CHECKSUM),
        (h("EF01FFFFFFFF01000301000500"), FrameFault.NOISE),
    ],
)
def test_malformed_frames(frame: bytes, fault: FrameFault) -> None:
    with pytest.raises(MalformedPacketError) as info:
        parse_packet(frame)
    assert info.value.fault is fault
    assert isinstance(info.value, SensorError)
    assert info.value.code is None


def test_packet_repr_and_wipe_hide_the_payload() -> None:
    packet = Packet(PacketId.DATA, bytearray(b"\x03\x01secret-template"))
    assert "secret" not in repr(packet)
    assert "17 payload bytes" in repr(packet)
    payload = packet.payload
    packet.wipe()
    assert payload == b""


def test_stream_parser_reassembles_byte_by_byte() -> None:
    wire = build_command(Instruction.GEN_IMG) + build_ack(0x02) + build_ack(0, h("0050"))
    parser = PacketParser()
    events: list[Packet | MalformedPacketError] = []
    for byte in wire:
        events += parser.feed(bytes([byte]))
    assert [type(e) for e in events] == [Packet] * 3
    assert [e.payload for e in events if isinstance(e, Packet)] == [b"\x01", b"\x02", h("000050")]
    assert parser.pending == 0


def test_stream_parser_resynchronises_after_garbage() -> None:
    good = build_command(Instruction.MATCH)
    damaged = bytearray(build_ack(0x00))
    damaged[-1] ^= 0xFF
    wire = b"\x00\xef\x55junk" + damaged + b"\xef" + good + b"\xef\x01\xff"
    parser = PacketParser()
    events = parser.feed(wire)
    packets = [e for e in events if isinstance(e, Packet)]
    faults = {e.fault for e in events if isinstance(e, MalformedPacketError)}
    assert [p.payload for p in packets] == [b"\x03"]
    assert FrameFault.NOISE in faults
    assert FrameFault.CHECKSUM in faults
    assert parser.pending == 3  # the start of what may be a packet


def test_stream_parser_skips_other_addresses() -> None:
    parser = PacketParser(address=0xFFFFFFFF)
    events = parser.feed(build_ack(0, address=1) + build_ack(0))
    assert [type(e) for e in events][-1] is Packet
    assert any(
        isinstance(e, MalformedPacketError) and e.fault is FrameFault.ADDRESS for e in events
    )


def test_expire_drops_a_stalled_frame_and_salvages_packets_inside() -> None:
    stalled = h("EF01FFFFFFFF020100")  # claims 254 payload bytes that never come
    parser = PacketParser()
    assert parser.feed(stalled + build_ack(0x00)) == []
    events = parser.expire()
    assert [e.payload for e in events if isinstance(e, Packet)] == [b"\x00"]
    assert parser.pending == 0


def test_every_listed_code_has_its_typed_error() -> None:
    for code, (cls, text) in CONFIRMATION_CODES.items():
        err = error_for_code(code)
        assert type(err) is cls
        assert isinstance(err, ConfirmationError)
        assert isinstance(err, SensorError)
        assert err.code == code
        assert text in str(err)
        assert f"0x{code:02X}" in str(err)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (0x02, NoFingerError),
        (0x06, PoorImageError),
        (0x07, FeatureExtractionError),
        (0x13, WrongPasswordError),
        (0x18, FlashError),
    ],
)
def test_named_codes(code: int, cls: type[SensorError]) -> None:
    assert isinstance(error_for_code(code), cls)


def test_feature_extraction_is_a_poor_image() -> None:
    assert isinstance(error_for_code(0x07), PoorImageError)


def test_unlisted_codes_are_unknown_confirmations() -> None:
    listed = set(CONFIRMATION_CODES)
    for code in range(1, 256):
        if code not in listed:
            err = error_for_code(code)
            assert type(err) is UnknownConfirmationError
            assert err.code == code


def test_chip_serial_answers() -> None:
    from hardware.fingerprint.packet import parse_chip_serial, parse_packet

    ok = parse_packet(build_ack(0, b"FPM-1".ljust(32, b"\0")))
    assert parse_chip_serial(ok) == "FPM-1"
    assert parse_chip_serial(parse_packet(build_ack(0, b"\x00\x9f".ljust(32, b"\0")))) == "009F"
    for bad in (b"", b"\0" * 32, b"FPM".ljust(31, b"\0")):
        with pytest.raises(MalformedPacketError):
            parse_chip_serial(parse_packet(build_ack(0, bad)))
