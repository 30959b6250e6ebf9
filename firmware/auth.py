"""HMAC-SHA256 on MicroPython's hashlib (which has no hmac module) and the tamper-clear MAC."""

import hashlib
import struct

from micropython import const

_BLOCK = const(64)
CLEAR_LABEL = b"PBK-MCU-CLEAR-1"


def hmac_sha256(key, msg):
    """HMAC-SHA256 (RFC 2104) of msg under key."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    inner_pad = bytearray(_BLOCK)
    outer_pad = bytearray(_BLOCK)
    for i in range(_BLOCK):
        byte = key[i] if i < len(key) else 0
        inner_pad[i] = byte ^ 0x36
        outer_pad[i] = byte ^ 0x5C
    inner = hashlib.sha256(inner_pad)
    inner.update(msg)
    outer = hashlib.sha256(outer_pad)
    outer.update(inner.digest())
    return outer.digest()


def equal(a, b):
    """Compare two byte strings in time that does not depend on where they differ."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


def clear_message(counter, tamper_seq):
    """The bytes a tamper clear authenticates: label, counter, the latch's tamper sequence."""
    return CLEAR_LABEL + struct.pack(">II", counter, tamper_seq)


def clear_mac(key, counter, tamper_seq):
    """The MAC a CLEAR_TAMPER command must carry."""
    return hmac_sha256(key, clear_message(counter, tamper_seq))
