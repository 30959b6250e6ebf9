"""What both virtual chips share of ISO/IEC 7816: the ATR they announce and how they answer."""

from __future__ import annotations

from hardware.card.apdu import ResponseApdu


def make_atr(historical: bytes) -> bytes:
    """A T=1 ATR with the given historical bytes and a correct TCK."""
    body = bytes((0x80 | len(historical), 0x80, 0x01)) + historical
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3b" + body + bytes((tck,))


def answer(data: bytes, sw: int) -> bytes:
    """A response APDU's bytes: data, then SW1 SW2."""
    return ResponseApdu(data, sw).to_bytes()
