"""What a KTP-el read yields, and the interface of a card reader.

The contents hold personal data: they live in `bytearray`s owned by whoever called `read()` and
are overwritten by `wipe()` at the end of the session. Nothing here logs or copies them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from common.buffers import wipe


class Finger(Enum):
    """The two fingers whose templates a KTP-el chip holds."""

    RIGHT_INDEX = "right_index"
    LEFT_INDEX = "left_index"


class IdentityField(Enum):
    """Fields of the chip's identity file."""

    NIK = "nik"
    KK_NUMBER = "kk_number"
    FULL_NAME = "full_name"
    SEX = "sex"
    BIRTH_PLACE = "birth_place"
    BIRTH_DATE = "birth_date"  # DD-MM-YYYY
    RELIGION = "religion"
    MARITAL_STATUS = "marital_status"
    OCCUPATION = "occupation"
    NATIONALITY = "nationality"
    ADDRESS = "address"
    RT = "rt"
    RW = "rw"
    VILLAGE = "village"
    DISTRICT = "district"
    REGENCY = "regency"
    PROVINCE = "province"
    VALID_UNTIL = "valid_until"


@dataclass(eq=False, repr=False)
class CardContents:
    """Everything read from one card: UTF-8 identity fields and the two templates."""

    identity: dict[IdentityField, bytearray] = field(default_factory=dict)
    templates: dict[Finger, bytearray] = field(default_factory=dict)

    def wipe(self) -> None:
        """Overwrite every buffer with zeros and drop it (safe while a driver thread holds one)."""
        wipe(*self.identity.values(), *self.templates.values())
        self.identity.clear()
        self.templates.clear()

    def __repr__(self) -> str:
        return f"CardContents(<{len(self.identity)} fields, {len(self.templates)} templates>)"


class CardEventKind(Enum):
    """What a reader reports."""

    INSERTED = "inserted"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class CardEvent:
    """A card came or went in the ID card slot."""

    kind: CardEventKind
    reader: str


class CardReader(Protocol):
    """A KTP-el reader with its SAM (hardware.card.pcsc.PcscCardReader).

    Blocking calls: the agent runs them in an executor. The session never constructs a reader;
    the contents `read()` returns belong to the caller, who wipes them.
    """

    def start_monitor(self, callback: Callable[[CardEvent], None]) -> None:
        """Call `callback` (from a monitor thread) on every insertion and removal."""

    def stop_monitor(self) -> None:
        """Stop the monitor thread."""

    def read(self) -> CardContents:
        """Authenticate card and SAM to each other, then read identity and templates.

        Raises a CardError subclass: NoReaderError, NoCardError, CardRemovedError,
        CardNotAuthenticError, SamMissingError, SamNotAuthorisedError, MalformedCardDataError,
        CardTimeoutError.
        """
        ...
