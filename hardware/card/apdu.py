"""ISO/IEC 7816-4 command and response APDUs, short and extended length, and status words.

Pure code: no I/O. A card or SAM is reached through an `ApduTransport`, one method that sends a
command APDU and returns the response data and the status word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

from hardware.errors import MalformedCardDataError

SHORT_MAX_NC = 255
SHORT_MAX_NE = 256
EXTENDED_MAX_NC = 65535
EXTENDED_MAX_NE = 65536
_MAX_GET_RESPONSE_ROUNDS = 256


class ApduTransport(Protocol):
    """A card connection: send one command APDU, get (response data, status word).

    Implementations raise CardError subclasses (card removed, timeout, ...) and nothing else.
    """

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        """Send `apdu`, return the response data and the status word SW1SW2."""
        ...


class SW(IntEnum):
    """Status words this code base names (ISO/IEC 7816-4 section 5.6)."""

    SUCCESS = 0x9000
    END_OF_FILE = 0x6282  # end of file reached before reading Ne bytes
    FILE_DEACTIVATED = 0x6283  # selected file deactivated
    AUTHENTICATION_FAILED = 0x6300
    MEMORY_FAILURE = 0x6581
    WRONG_LENGTH = 0x6700
    SECURITY_STATUS_NOT_SATISFIED = 0x6982
    AUTHENTICATION_BLOCKED = 0x6983
    CONDITIONS_NOT_SATISFIED = 0x6985
    COMMAND_NOT_ALLOWED = 0x6986  # no current EF; here: the SAM is already bound
    SM_DATA_OBJECTS_MISSING = 0x6987
    SM_DATA_OBJECTS_INCORRECT = 0x6988
    WRONG_DATA = 0x6A80
    FILE_NOT_FOUND = 0x6A82
    INCORRECT_P1_P2 = 0x6A86
    REFERENCED_DATA_NOT_FOUND = 0x6A88
    WRONG_P1_P2 = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    UNKNOWN = 0x6F00


def sw_ok(sw: int) -> bool:
    """True for 9000."""
    return sw == SW.SUCCESS


def sw_bytes_available(sw: int) -> int | None:
    """For 61XX, the number of response bytes still available (0 means 256); else None."""
    return (sw & 0xFF or 256) if sw >> 8 == 0x61 else None


def sw_exact_length(sw: int) -> int | None:
    """For 6CXX (wrong Le), the exact length the card wants (0 means 256); else None."""
    return (sw & 0xFF or 256) if sw >> 8 == 0x6C else None


def describe_sw(sw: int) -> str:
    """A short English text for a status word, for logs and error messages."""
    try:
        return SW(sw).name.lower().replace("_", " ")
    except ValueError:
        pass
    sw1 = sw >> 8
    if sw1 == 0x61:
        return "more response bytes available"
    if sw1 == 0x6C:
        return "wrong Le"
    if sw1 == 0x63 and sw & 0xF0 == 0xC0:
        return "verification failed, counter in SW2"
    return "unknown status"


@dataclass(frozen=True, slots=True)
class CommandApdu:
    """A command APDU. `ne` is the expected response length (None: no Le field)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    ne: int | None = None
    extended: bool = field(default=False, compare=False)  # force extended length fields

    def __post_init__(self) -> None:
        for name, value in (("cla", self.cla), ("ins", self.ins), ("p1", self.p1), ("p2", self.p2)):
            if not 0 <= value <= 0xFF:
                raise ValueError(f"{name} must be one byte, got {value}")
        if len(self.data) > EXTENDED_MAX_NC:
            raise ValueError(f"command data longer than {EXTENDED_MAX_NC} bytes")
        if self.ne is not None and not 1 <= self.ne <= EXTENDED_MAX_NE:
            raise ValueError(f"ne must be 1..{EXTENDED_MAX_NE} or None, got {self.ne}")

    @property
    def header(self) -> bytes:
        """CLA INS P1 P2."""
        return bytes((self.cla, self.ins, self.p1, self.p2))

    @property
    def is_extended(self) -> bool:
        """True if this command needs (or asked for) extended length fields."""
        return (
            self.extended
            or len(self.data) > SHORT_MAX_NC
            or (self.ne is not None and self.ne > SHORT_MAX_NE)
        )

    def to_bytes(self) -> bytes:
        """Encode as cases 1, 2, 3 or 4, short or extended (ISO/IEC 7816-3 12.1.3)."""
        nc = len(self.data)
        out = bytearray(self.header)
        if not self.is_extended:
            if nc:
                out.append(nc)
                out += self.data
            if self.ne is not None:
                out.append(self.ne & 0xFF)  # 256 encodes as 00
            return bytes(out)
        if nc:
            out += b"\x00" + nc.to_bytes(2, "big") + self.data
        if self.ne is not None:
            le = (self.ne & 0xFFFF).to_bytes(2, "big")  # 65536 encodes as 0000
            out += le if nc else b"\x00" + le
        return bytes(out)

    @classmethod
    def parse(cls, raw: bytes | bytearray) -> CommandApdu:
        """Decode a command APDU; MalformedCardDataError if its length fields do not add up."""
        raw = bytes(raw)
        n = len(raw)
        if n < 4:
            raise MalformedCardDataError("command APDU shorter than its header")
        cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
        if n == 4:
            return cls(cla, ins, p1, p2)
        b1 = raw[4]
        if n == 5:
            return cls(cla, ins, p1, p2, ne=b1 or SHORT_MAX_NE)
        if b1:
            if n == 5 + b1:
                return cls(cla, ins, p1, p2, raw[5:])
            if n == 6 + b1:
                return cls(cla, ins, p1, p2, raw[5:-1], ne=raw[-1] or SHORT_MAX_NE)
            raise MalformedCardDataError("command APDU length does not match its Lc")
        # Extended: B1 = 00 followed by two bytes.
        if n < 7:
            raise MalformedCardDataError("truncated extended length field")
        b23 = int.from_bytes(raw[5:7], "big")
        if n == 7:
            return cls(cla, ins, p1, p2, ne=b23 or EXTENDED_MAX_NE, extended=True)
        if b23 == 0:
            raise MalformedCardDataError("extended Lc of zero")
        if n == 7 + b23:
            return cls(cla, ins, p1, p2, raw[7:], extended=True)
        if n == 9 + b23:
            le = int.from_bytes(raw[-2:], "big") or EXTENDED_MAX_NE
            return cls(cla, ins, p1, p2, raw[7:-2], ne=le, extended=True)
        raise MalformedCardDataError("command APDU length does not match its extended Lc")


@dataclass(frozen=True, slots=True)
class ResponseApdu:
    """A response APDU: data and the status word SW1SW2."""

    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        """First status byte."""
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        """Second status byte."""
        return self.sw & 0xFF

    def to_bytes(self) -> bytes:
        """Data followed by SW1 SW2."""
        return bytes(self.data) + self.sw.to_bytes(2, "big")

    @classmethod
    def parse(cls, raw: bytes | bytearray | Sequence[int]) -> ResponseApdu:
        """Split data and status word; MalformedCardDataError if there is no status word."""
        if len(raw) < 2:
            raise MalformedCardDataError("response APDU without a status word")
        try:
            body = bytes(raw)
        except (TypeError, ValueError) as err:
            raise MalformedCardDataError("response APDU is not a byte string") from err
        return cls(body[:-2], int.from_bytes(body[-2:], "big"))

    def __repr__(self) -> str:
        return f"ResponseApdu(<{len(self.data)} bytes>, sw={self.sw:04X})"


def exchange(transport: ApduTransport, command: CommandApdu) -> tuple[bytes, int]:
    """Send `command`, following 6CXX (resend with the right Le) and 61XX (GET RESPONSE)."""
    data, sw = transport.send_and_receive(command.to_bytes())
    exact = sw_exact_length(sw)
    if exact is not None:
        retry = CommandApdu(command.cla, command.ins, command.p1, command.p2, command.data, exact)
        data, sw = transport.send_and_receive(retry.to_bytes())
    if sw_bytes_available(sw) is None:
        return data, sw
    chunks = [data]
    total = len(data)
    for _ in range(_MAX_GET_RESPONSE_ROUNDS):
        available = sw_bytes_available(sw)
        if available is None:
            return b"".join(chunks), sw
        get_response = CommandApdu(command.cla & 0x03, 0xC0, 0x00, 0x00, ne=available)
        data, sw = transport.send_and_receive(get_response.to_bytes())
        total += len(data)
        if total > EXTENDED_MAX_NE:
            break
        chunks.append(data)
    raise MalformedCardDataError("card kept announcing more response bytes")
