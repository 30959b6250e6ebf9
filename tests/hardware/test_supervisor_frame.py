"""The Pi's frame codec of the supervisor MCU link against the golden vectors it shares with the
firmware's tests (tests/data/mcu_frames.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hardware.errors import HardwareError
from hardware.supervisor.errors import FrameFault, MalformedFrameError
from hardware.supervisor.frame import (
    MAX_ENCODED,
    MAX_PAYLOAD,
    MCU_TYPES,
    PI_TYPES,
    Frame,
    FrameDecoder,
    MsgType,
    cobs_decode,
    cobs_encode,
    crc16,
    decode_frame,
    encode_frame,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "mcu_frames.json").read_text()
)
KNOWN = {"mcu": PI_TYPES, "pi": MCU_TYPES}  # what each side's decoder accepts


def h(text: str) -> bytes:
    return bytes.fromhex(text)


@pytest.mark.parametrize("vector", VECTORS["crc16"], ids=lambda v: v["data"][:12] or "empty")
def test_crc16(vector: dict[str, Any]) -> None:
    assert crc16(h(vector["data"])) == vector["crc"]


@pytest.mark.parametrize("vector", VECTORS["cobs"], ids=lambda v: v["decoded"][:12])
def test_cobs(vector: dict[str, Any]) -> None:
    assert cobs_encode(h(vector["decoded"])) == h(vector["encoded"])
    assert cobs_decode(h(vector["encoded"])) == h(vector["decoded"])


@pytest.mark.parametrize("vector", VECTORS["frames"], ids=lambda v: v["name"])
def test_golden_frame_encodes(vector: dict[str, Any]) -> None:
    assert encode_frame(vector["type"], vector["seq"], h(vector["payload"])) == h(vector["wire"])


@pytest.mark.parametrize("vector", VECTORS["frames"], ids=lambda v: v["name"])
def test_golden_frame_decodes_on_the_receiving_side(vector: dict[str, Any]) -> None:
    receiver = "pi" if vector["from"] == "mcu" else "mcu"
    decoder = FrameDecoder(KNOWN[receiver])
    frames = decoder.feed(h(vector["wire"]))
    assert frames == [Frame(MsgType(vector["type"]), vector["seq"], h(vector["payload"]))]


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["name"])
def test_invalid_frame_is_dropped_and_counted(vector: dict[str, Any]) -> None:
    decoder = FrameDecoder(KNOWN[vector["to"]])
    assert decoder.feed(h(vector["wire"])) == []
    dropped = decoder.dropped
    counts = {
        "truncated": dropped.truncated,
        "corrupt": dropped.corrupt,
        "unknown": dropped.unknown,
    }
    assert counts == {k: int(k == vector["drop"]) for k in counts}


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["name"])
def test_invalid_frame_raises_one_domain_error(vector: dict[str, Any]) -> None:
    inner = h(vector["wire"]).strip(b"\x00")
    with pytest.raises(MalformedFrameError) as caught:
        decode_frame(inner, KNOWN[vector["to"]])
    assert caught.value.fault is FrameFault[vector["drop"].upper()]
    assert isinstance(caught.value, HardwareError)


@pytest.mark.parametrize("vector", VECTORS["streams"], ids=lambda v: v["name"])
def test_stream_resynchronises(vector: dict[str, Any]) -> None:
    decoder = FrameDecoder(KNOWN[vector["to"]])
    frames = decoder.feed(h(vector["wire"]))
    assert [[int(f.type), f.seq, f.payload.hex()] for f in frames] == vector["frames"]
    expected = vector["dropped"]
    got = decoder.dropped
    assert (got.truncated, got.corrupt, got.unknown) == (
        expected["truncated"],
        expected["corrupt"],
        expected["unknown"],
    )


def test_byte_by_byte_feed_gives_the_same_frames() -> None:
    vector = VECTORS["streams"][0]
    decoder = FrameDecoder(KNOWN[vector["to"]])
    frames = [f for byte in h(vector["wire"]) for f in decoder.feed(bytes([byte]))]
    assert [[int(f.type), f.seq, f.payload.hex()] for f in frames] == vector["frames"]


def test_half_frame_expires_as_truncated() -> None:
    wire = encode_frame(MsgType.ACK, 3, b"\x02")
    decoder = FrameDecoder()
    assert decoder.feed(wire[:-2]) == []
    assert decoder.pending()
    decoder.expire()
    assert decoder.dropped.truncated == 1
    assert decoder.feed(wire) == [Frame(MsgType.ACK, 3, b"\x02")]


def test_endless_bytes_without_delimiter_count_once() -> None:
    decoder = FrameDecoder()
    decoder.feed(b"\x00" + b"\x42" * 10_000)
    assert decoder.feed(b"\x00") == []
    assert decoder.dropped.corrupt == 1


def test_encode_refuses_out_of_range_fields() -> None:
    with pytest.raises(ValueError):
        encode_frame(0x100, 0)
    with pytest.raises(ValueError):
        encode_frame(1, 256)
    with pytest.raises(ValueError):
        encode_frame(1, 0, bytes(MAX_PAYLOAD + 1))


def test_largest_frame_fits_the_decoder() -> None:
    wire = encode_frame(MsgType.STATUS, 1, bytes(range(1, MAX_PAYLOAD + 1)))
    assert len(wire) == MAX_ENCODED + 2
    assert len(FrameDecoder().feed(wire)) == 1


def test_message_types_match_the_firmware_numbering() -> None:
    assert {t.value for t in PI_TYPES} == set(range(1, 10))
    assert {t.value for t in MCU_TYPES} == {0x81, 0x82, 0x83, 0x84, 0x85}
