"""Payloads of the link messages, as the MCU builds and reads them (big-endian throughout).

HELLO        Pi->MCU  version u8                      -> STATUS, then TAMPER if latched
HEARTBEAT    Pi->MCU  (empty)                         -> ACK
SET_PATTERN  Pi->MCU  pattern u8                      -> ACK | NAK
BUZZER       Pi->MCU  duration_ms u16 (0 = stop)      -> ACK | NAK
GET_STATUS   Pi->MCU  (empty)                         -> STATUS
CLEAR_TAMPER Pi->MCU  counter u32, hmac 32 bytes      -> ACK | NAK
SET_KEY      Pi->MCU  key 32 bytes (once only)        -> ACK | NAK
TAMPER_ACK   Pi->MCU  tamper_seq u32                  (no answer)
GET_ID       Pi->MCU  (empty)                         -> IDENT | NAK (NO_ID)
ACK          MCU->Pi  request type u8
NAK          MCU->Pi  request type u8, reason u8
STATUS       MCU->Pi  see STATUS_FORMAT
TAMPER       MCU->Pi  causes u8, tamper_seq u32
IDENT        MCU->Pi  version u8, board id (1..16 bytes: the RP2040's flash unique id)
Answers carry the seq of the request they answer.
"""

import struct

from micropython import const

PROTOCOL_VERSION = const(1)

# LED patterns
IDLE = const(0)
BUSY = const(1)
SUCCESS = const(2)
FAILURE = const(3)
DEACTIVATED = const(4)
TAMPERED = const(5)
PATTERN_COUNT = const(6)

# Tamper causes (bits)
CAUSE_ENCLOSURE = const(0x01)
CAUSE_LIGHT = const(0x02)
CAUSE_STORAGE = const(0x04)  # the latch file was unreadable: fail closed

# STATUS flags (bits)
FLAG_LATCHED = const(0x01)
FLAG_ENCLOSURE_OPEN = const(0x02)
FLAG_LIGHT = const(0x04)
FLAG_KEY_SET = const(0x08)

# NAK reasons
MALFORMED = const(1)
AUTH_FAILED = const(2)
REPLAYED = const(3)
NO_KEY = const(4)
KEY_ALREADY_SET = const(5)
STORAGE_FAILED = const(6)
NO_ID = const(7)  # the board has no unique id to report

KEY_SIZE = const(32)
MAC_SIZE = const(32)
MAX_BUZZ_MS = const(10000)
MAX_ID_SIZE = const(16)

# version, flags, causes, pattern, reset_count, tamper_seq, clear_counter, uptime_s,
# dropped truncated, corrupt, unknown, malformed
STATUS_FORMAT = ">BBBBIIIIHHHH"
TAMPER_FORMAT = ">BI"


def _u16(value):
    return value if value < 0xFFFF else 0xFFFF


def status_payload(
    flags,
    causes,
    pattern,
    reset_count,
    tamper_seq,
    clear_counter,
    uptime_s,
    dropped,
):
    """Build a STATUS payload; dropped = (truncated, corrupt, unknown, malformed)."""
    return struct.pack(
        STATUS_FORMAT,
        PROTOCOL_VERSION,
        flags,
        causes,
        pattern,
        reset_count,
        tamper_seq,
        clear_counter,
        uptime_s,
        _u16(dropped[0]),
        _u16(dropped[1]),
        _u16(dropped[2]),
        _u16(dropped[3]),
    )


def tamper_payload(causes, tamper_seq):
    """Build a TAMPER payload."""
    return struct.pack(TAMPER_FORMAT, causes, tamper_seq)


def ident_payload(board_id):
    """Build an IDENT payload: protocol version, then the board's unique id."""
    return bytes((PROTOCOL_VERSION,)) + bytes(board_id)


def ack_payload(request_type):
    """Build an ACK payload."""
    return bytes((request_type,))


def nak_payload(request_type, reason):
    """Build a NAK payload."""
    return bytes((request_type, reason))


def read_u8(payload):
    """The single byte of a one-byte payload, or None if the length is wrong."""
    return payload[0] if len(payload) == 1 else None


def read_u16(payload):
    """The big-endian u16 of a two-byte payload, or None if the length is wrong."""
    return (payload[0] << 8) | payload[1] if len(payload) == 2 else None


def read_u32(payload):
    """The big-endian u32 of a four-byte payload, or None if the length is wrong."""
    if len(payload) != 4:
        return None
    return struct.unpack(">I", payload)[0]


def read_clear(payload):
    """(counter, mac) of a CLEAR_TAMPER payload, or None if the length is wrong."""
    if len(payload) != 4 + MAC_SIZE:
        return None
    return struct.unpack(">I", payload[:4])[0], bytes(payload[4:])
