"""How a virtual KTP-el card misbehaves: the faults of damaged, forged or pulled cards."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import ClassVar


class FaultKind(Enum):
    """How a virtual card misbehaves."""

    CLONED = "cloned"  # a forger's copy: right serial and data, wrong key
    TRUNCATED_TLV = "truncated_tlv"  # identity file ends inside its last field
    INCONSISTENT_TLV = "inconsistent_tlv"  # identity template length disagrees with its fields
    WRONG_LENGTH = "wrong_length"  # right-index template file shorter/longer than declared
    SLOW = "slow"  # every answer delayed by `delay` seconds
    VANISH_AT = "vanish_at"  # the card leaves the slot when it receives its `at`-th APDU


@dataclass(frozen=True)
class CardFault:
    """A fault to build into a virtual card. Text form: "cloned", "slow:0.2", "vanish_at:5"."""

    kind: FaultKind
    delay: float = 0.0
    at: int = 0
    delta: int = 0

    CLONED: ClassVar[CardFault]
    TRUNCATED_TLV: ClassVar[CardFault]
    INCONSISTENT_TLV: ClassVar[CardFault]
    WRONG_LENGTH: ClassVar[CardFault]

    @classmethod
    def slow(cls, delay: float) -> CardFault:
        """Every APDU answered `delay` seconds late."""
        if delay < 0:
            raise ValueError("delay must not be negative")
        return cls(FaultKind.SLOW, delay=delay)

    @classmethod
    def vanish_at(cls, n: int) -> CardFault:
        """The card disappears when it receives its n-th APDU (1-based)."""
        if n < 1:
            raise ValueError("n counts APDUs from 1")
        return cls(FaultKind.VANISH_AT, at=n)

    @classmethod
    def wrong_length(cls, delta: int = -32) -> CardFault:
        """Template file `delta` bytes longer (>0) or shorter (<0) than its declaration."""
        if delta == 0:
            raise ValueError("delta must not be zero")
        return cls(FaultKind.WRONG_LENGTH, delta=delta)

    @classmethod
    def parse(cls, text: str) -> CardFault:
        """From "cloned", "truncated_tlv", "inconsistent_tlv", "wrong_length[:delta]",
        "slow:<seconds>" or "vanish_at:<n>"."""
        name, _, arg = text.strip().lower().partition(":")
        try:
            kind = FaultKind(name)
            if kind is FaultKind.SLOW:
                return cls.slow(float(arg))
            if kind is FaultKind.VANISH_AT:
                return cls.vanish_at(int(arg))
            if kind is FaultKind.WRONG_LENGTH:
                return cls.wrong_length(int(arg)) if arg else cls.WRONG_LENGTH
        except ValueError as err:
            raise ValueError(f"bad card fault {text!r}: {err}") from None
        if arg:
            raise ValueError(f"card fault {name!r} takes no argument")
        return cls(kind)

    def __str__(self) -> str:
        if self.kind is FaultKind.SLOW:
            return f"slow:{self.delay:g}"
        if self.kind is FaultKind.VANISH_AT:
            return f"vanish_at:{self.at}"
        if self.kind is FaultKind.WRONG_LENGTH:
            return f"wrong_length:{self.delta}"
        return str(self.kind.value)


CardFault.CLONED = CardFault(FaultKind.CLONED)
CardFault.TRUNCATED_TLV = CardFault(FaultKind.TRUNCATED_TLV)
CardFault.INCONSISTENT_TLV = CardFault(FaultKind.INCONSISTENT_TLV)
CardFault.WRONG_LENGTH = CardFault(FaultKind.WRONG_LENGTH, delta=-32)
