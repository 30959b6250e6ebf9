"""Payloads of the supervisor link messages, as the Pi builds and reads them (pure, no I/O).

Layouts (big-endian) are documented in docs/supervisor-mcu.md and firmware/messages.py. Every
parser raises MalformedFrameError(fault=MALFORMED) for a payload of the wrong size or value.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from enum import Enum, IntFlag

from hardware.supervisor.errors import FrameFault, MalformedFrameError, NakReason

PROTOCOL_VERSION = 1
KEY_SIZE = 32
MAX_BUZZ_MS = 10_000
CLEAR_LABEL = b"PBK-MCU-CLEAR-1"
_STATUS = struct.Struct(">BBBBIIIIHHHH")
_TAMPER = struct.Struct(">BI")
_U32_MAX = 0xFFFF_FFFF
MAX_ID_SIZE = 16


class McuPattern(Enum):
    """LED patterns of the MCU; values are the names hardware.gpio.Pattern uses too."""

    IDLE = "idle"
    BUSY = "busy"
    SUCCESS = "success"
    FAILURE = "failure"
    DEACTIVATED = "deactivated"
    TAMPER = "tamper"


PATTERN_IDS: dict[McuPattern, int] = {pattern: i for i, pattern in enumerate(McuPattern)}
_PATTERNS_BY_ID = {i: pattern for pattern, i in PATTERN_IDS.items()}


class TamperCause(IntFlag):
    """What tripped the tamper latch."""

    ENCLOSURE = 0x01  # enclosure switch open
    LIGHT = 0x02  # light inside the enclosure
    STORAGE = 0x04  # the MCU found its latch file damaged and latched to be safe


class _Flag(IntFlag):
    LATCHED = 0x01
    ENCLOSURE_OPEN = 0x02
    LIGHT = 0x04
    KEY_SET = 0x08


@dataclass(frozen=True, slots=True)
class DroppedFrames:
    """Frames the MCU dropped since it started (each count saturates at 65535)."""

    truncated: int
    corrupt: int
    unknown: int
    malformed: int


@dataclass(frozen=True, slots=True)
class McuStatus:
    """The MCU's STATUS answer."""

    protocol_version: int
    tamper_latched: bool
    tamper_causes: TamperCause
    enclosure_open: bool
    light_detected: bool
    key_set: bool
    pattern: McuPattern
    reset_count: int
    tamper_seq: int
    clear_counter: int
    uptime_s: int
    dropped: DroppedFrames


@dataclass(frozen=True, slots=True)
class TamperReport:
    """A TAMPER message: the latch is set; seq numbers the latch (not the message)."""

    causes: TamperCause
    seq: int


def _malformed(what: str) -> MalformedFrameError:
    return MalformedFrameError(what, FrameFault.MALFORMED)


def parse_status(payload: bytes) -> McuStatus:
    """Read a STATUS payload."""
    if len(payload) != _STATUS.size:
        raise _malformed("STATUS payload size")
    (version, flags, causes, pattern, resets, tamper_seq, clear_counter, uptime, *dropped) = (
        _STATUS.unpack(payload)
    )
    if pattern not in _PATTERNS_BY_ID:
        raise _malformed("STATUS pattern")
    if causes & ~0x07 or flags & ~0x0F:
        raise _malformed("STATUS flag bits")
    return McuStatus(
        protocol_version=version,
        tamper_latched=bool(flags & _Flag.LATCHED),
        tamper_causes=TamperCause(causes),
        enclosure_open=bool(flags & _Flag.ENCLOSURE_OPEN),
        light_detected=bool(flags & _Flag.LIGHT),
        key_set=bool(flags & _Flag.KEY_SET),
        pattern=_PATTERNS_BY_ID[pattern],
        reset_count=resets,
        tamper_seq=tamper_seq,
        clear_counter=clear_counter,
        uptime_s=uptime,
        dropped=DroppedFrames(*dropped),
    )


def parse_tamper(payload: bytes) -> TamperReport:
    """Read a TAMPER payload."""
    if len(payload) != _TAMPER.size:
        raise _malformed("TAMPER payload size")
    causes, seq = _TAMPER.unpack(payload)
    if causes == 0 or causes & ~0x07:
        raise _malformed("TAMPER causes")
    return TamperReport(TamperCause(causes), seq)


@dataclass(frozen=True, slots=True)
class McuIdentity:
    """The MCU's IDENT answer: its link protocol version and its board's unique id (hex)."""

    protocol_version: int
    board_id: str


def parse_ident(payload: bytes) -> McuIdentity:
    """Read an IDENT payload: version u8, then the board id (1..16 bytes)."""
    if not 2 <= len(payload) <= 1 + MAX_ID_SIZE:
        raise _malformed("IDENT payload size")
    return McuIdentity(payload[0], payload[1:].hex().upper())


def parse_ack(payload: bytes) -> int:
    """Read an ACK payload: the type of the acknowledged request."""
    if len(payload) != 1:
        raise _malformed("ACK payload size")
    return payload[0]


def parse_nak(payload: bytes) -> tuple[int, NakReason]:
    """Read a NAK payload: the refused request's type and the reason."""
    if len(payload) != 2:
        raise _malformed("NAK payload size")
    try:
        reason = NakReason(payload[1])
    except ValueError:
        reason = NakReason.UNKNOWN
    return payload[0], reason


def hello_payload() -> bytes:
    """HELLO: our protocol version."""
    return bytes((PROTOCOL_VERSION,))


def pattern_payload(pattern: McuPattern) -> bytes:
    """SET_PATTERN: the pattern id."""
    return bytes((PATTERN_IDS[pattern],))


def buzzer_payload(duration_ms: int) -> bytes:
    """BUZZER: how long to sound, 0..10000 ms (0 silences)."""
    if not 0 <= duration_ms <= MAX_BUZZ_MS:
        raise ValueError(f"buzzer duration must be 0..{MAX_BUZZ_MS} ms")
    return duration_ms.to_bytes(2, "big")


def tamper_ack_payload(tamper_seq: int) -> bytes:
    """TAMPER_ACK: the latch sequence the Pi has seen."""
    return tamper_seq.to_bytes(4, "big")


def clear_mac(key: bytes, counter: int, tamper_seq: int) -> bytes:
    """HMAC-SHA256 over label, counter and the latch's sequence: what a clear must carry."""
    if not 0 <= counter <= _U32_MAX or not 0 <= tamper_seq <= _U32_MAX:
        raise ValueError("counter and tamper_seq are 32-bit unsigned")
    message = CLEAR_LABEL + struct.pack(">II", counter, tamper_seq)
    return hmac.new(key, message, hashlib.sha256).digest()


def clear_payload(key: bytes, counter: int, tamper_seq: int) -> bytes:
    """CLEAR_TAMPER: counter (above the MCU's last one) and its MAC."""
    return counter.to_bytes(4, "big") + clear_mac(key, counter, tamper_seq)


def set_key_payload(key: bytes) -> bytes:
    """SET_KEY: the 32-byte clear key (accepted once)."""
    if len(key) != KEY_SIZE:
        raise ValueError(f"the clear key is {KEY_SIZE} bytes")
    return bytes(key)
