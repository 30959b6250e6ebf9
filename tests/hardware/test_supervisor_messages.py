"""Payloads of the supervisor MCU link: status and tamper parsing, the authenticated clear."""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from pathlib import Path
from typing import Any

import pytest

from hardware import gpio
from hardware.supervisor.errors import FrameFault, MalformedFrameError, NakReason
from hardware.supervisor.messages import (
    CLEAR_LABEL,
    McuPattern,
    TamperCause,
    buzzer_payload,
    clear_mac,
    clear_payload,
    parse_ack,
    parse_nak,
    parse_status,
    parse_tamper,
    pattern_payload,
    set_key_payload,
    tamper_ack_payload,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "mcu_frames.json").read_text()
)


def test_status_vector_parses_to_its_fields() -> None:
    vector = VECTORS["status"][0]
    status = parse_status(bytes.fromhex(vector["payload"]))
    assert status.protocol_version == vector["protocol_version"]
    assert status.tamper_latched is bool(vector["flags"] & 0x01)
    assert status.key_set is bool(vector["flags"] & 0x08)
    assert not status.enclosure_open and not status.light_detected
    assert status.tamper_causes == TamperCause(vector["causes"]) == TamperCause.ENCLOSURE
    assert status.pattern is McuPattern.TAMPER
    assert (status.reset_count, status.tamper_seq, status.clear_counter) == (2, 3, 1)
    assert status.uptime_s == vector["uptime_s"]
    dropped = status.dropped
    assert [dropped.truncated, dropped.corrupt, dropped.unknown, dropped.malformed] == vector[
        "dropped"
    ]


@pytest.mark.parametrize("vector", VECTORS["clear"], ids=lambda v: str(v["counter"]))
def test_clear_mac_vectors(vector: dict[str, Any]) -> None:
    key = bytes.fromhex(vector["key"])
    mac = clear_mac(key, vector["counter"], vector["tamper_seq"])
    assert mac == bytes.fromhex(vector["mac"])
    message = CLEAR_LABEL + struct.pack(">II", vector["counter"], vector["tamper_seq"])
    assert mac == hmac.new(key, message, hashlib.sha256).digest()
    assert clear_payload(key, vector["counter"], vector["tamper_seq"]) == (
        vector["counter"].to_bytes(4, "big") + mac
    )


def test_clear_mac_refuses_values_beyond_32_bits() -> None:
    with pytest.raises(ValueError):
        clear_mac(bytes(32), 1 << 32, 1)


@pytest.mark.parametrize(
    "payload",
    [b"", bytes(27), bytes(29), bytes.fromhex("01000009") + bytes(24)],
    ids=["empty", "short", "long", "bad-pattern"],
)
def test_bad_status_payload_is_one_domain_error(payload: bytes) -> None:
    with pytest.raises(MalformedFrameError) as caught:
        parse_status(payload)
    assert caught.value.fault is FrameFault.MALFORMED


def test_tamper_payload() -> None:
    report = parse_tamper(b"\x03\x00\x00\x01\x00")
    assert report.causes == TamperCause.ENCLOSURE | TamperCause.LIGHT
    assert report.seq == 256
    for bad in (b"", b"\x00\x00\x00\x00\x01", b"\x08\x00\x00\x00\x01", b"\x01\x00"):
        with pytest.raises(MalformedFrameError):
            parse_tamper(bad)


def test_ack_and_nak_payloads() -> None:
    assert parse_ack(b"\x02") == 2
    assert parse_nak(b"\x06\x03") == (6, NakReason.REPLAYED)
    assert parse_nak(b"\x06\x77") == (6, NakReason.UNKNOWN)
    with pytest.raises(MalformedFrameError):
        parse_ack(b"")
    with pytest.raises(MalformedFrameError):
        parse_nak(b"\x06")


def test_request_payloads() -> None:
    assert pattern_payload(McuPattern.IDLE) == b"\x00"
    assert pattern_payload(McuPattern.TAMPER) == b"\x05"
    assert buzzer_payload(250) == b"\x00\xfa"
    assert tamper_ack_payload(1) == b"\x00\x00\x00\x01"
    assert set_key_payload(bytes(range(32))) == bytes(range(32))
    with pytest.raises(ValueError):
        buzzer_payload(10_001)
    with pytest.raises(ValueError):
        set_key_payload(bytes(16))


def test_mcu_patterns_carry_the_gpio_pattern_names() -> None:
    assert {p.value for p in McuPattern} == {p.value for p in gpio.Pattern}
