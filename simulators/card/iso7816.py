"""What both virtual chips share of ISO/IEC 7816: the ATR they announce, how they answer, and
that power and reset lose their volatile state."""

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


class VolatileChip:
    """The `VirtualCard` power hooks of a chip: each one forgets its volatile state (`_clear`)."""

    def power_on(self) -> None:
        """Fresh volatile state."""
        self._clear()

    def power_off(self) -> None:
        """Volatile state lost."""
        self._clear()

    def reset(self) -> None:
        """Fresh volatile state."""
        self._clear()

    def _clear(self) -> None:
        raise NotImplementedError
