"""Frame codec of the supervisor MCU link (pure, no I/O); firmware/link.py is the MCU's twin.

Wire: 0x00, COBS(body), 0x00 where body = type u8, seq u8, payload (0..48 bytes), CRC-16/
CCITT-FALSE (poly 0x1021, init 0xFFFF) of type+seq+payload, big-endian. Every 0x00 on the wire
is a frame boundary; the leading one flushes a frame the sender left unfinished. Golden vectors
shared with the firmware tests: tests/data/mcu_frames.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from hardware.supervisor.errors import FrameFault, MalformedFrameError

MAX_PAYLOAD = 48
MIN_BODY = 4
MAX_BODY = MAX_PAYLOAD + 4
MAX_ENCODED = MAX_BODY + 1
DELIMITER = 0


class MsgType(IntEnum):
    """Message types: 0x01.. from the Pi, 0x81.. from the MCU."""

    HELLO = 0x01
    HEARTBEAT = 0x02
    SET_PATTERN = 0x03
    BUZZER = 0x04
    GET_STATUS = 0x05
    CLEAR_TAMPER = 0x06
    SET_KEY = 0x07
    TAMPER_ACK = 0x08
    GET_ID = 0x09
    ACK = 0x81
    NAK = 0x82
    STATUS = 0x83
    TAMPER = 0x84
    IDENT = 0x85


PI_TYPES = frozenset(t for t in MsgType if t < 0x80)
MCU_TYPES = frozenset(t for t in MsgType if t >= 0x80)


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame."""

    type: MsgType
    seq: int
    payload: bytes = b""


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of data (check value of b"123456789": 0x29B1)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def cobs_encode(data: bytes) -> bytes:
    """Consistent-overhead byte stuffing: the result holds no 0x00."""
    out = bytearray()
    block = bytearray()
    for i, byte in enumerate(data):
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
            continue
        block.append(byte)
        if len(block) == 254 and i != len(data) - 1:
            out.append(0xFF)
            out += block
            block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Undo cobs_encode; raise MalformedFrameError on a block that runs past the end."""
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0:
            raise MalformedFrameError("zero byte inside a COBS block", FrameFault.CORRUPT)
        end = i + code
        if end > len(data):
            raise MalformedFrameError("COBS block past the end", FrameFault.TRUNCATED)
        out += data[i + 1 : end]
        i = end
        if code != 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def encode_frame(mtype: int, seq: int, payload: bytes = b"") -> bytes:
    """The wire bytes of one frame, delimiters included."""
    if not 0 <= mtype <= 0xFF or not 0 <= seq <= 0xFF:
        raise ValueError("frame type and seq are single bytes")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload longer than {MAX_PAYLOAD} bytes")
    body = bytes((mtype, seq)) + bytes(payload)
    body += crc16(body).to_bytes(2, "big")
    return b"\x00" + cobs_encode(body) + b"\x00"


def decode_frame(encoded: bytes, known: frozenset[MsgType] = MCU_TYPES) -> Frame:
    """Decode the bytes between two delimiters; raise MalformedFrameError for anything else."""
    if len(encoded) > MAX_ENCODED:
        raise MalformedFrameError("frame too long", FrameFault.CORRUPT)
    body = cobs_decode(encoded)
    if len(body) < MIN_BODY:
        raise MalformedFrameError("frame too short", FrameFault.TRUNCATED)
    if len(body) > MAX_BODY:
        raise MalformedFrameError("frame too long", FrameFault.CORRUPT)
    if crc16(body[:-2]) != int.from_bytes(body[-2:], "big"):
        raise MalformedFrameError("CRC mismatch", FrameFault.CORRUPT)
    if body[0] not in known:
        raise MalformedFrameError(f"message type 0x{body[0]:02X}", FrameFault.UNKNOWN)
    return Frame(MsgType(body[0]), body[1], body[2:-2])


@dataclass(slots=True)
class DropCounts:
    """Frames dropped by a decoder, by fault."""

    truncated: int = 0
    corrupt: int = 0
    unknown: int = 0
    malformed: int = 0

    def add(self, fault: FrameFault) -> None:
        """Count one dropped frame."""
        if fault is FrameFault.TRUNCATED:
            self.truncated += 1
        elif fault is FrameFault.UNKNOWN:
            self.unknown += 1
        elif fault is FrameFault.MALFORMED:
            self.malformed += 1
        else:
            self.corrupt += 1


@dataclass(slots=True)
class FrameDecoder:
    """Cuts a received byte stream into frames; bad frames are dropped and counted, never raised."""

    known: frozenset[MsgType] = MCU_TYPES
    frames: int = 0
    dropped: DropCounts = field(default_factory=DropCounts)
    _buf: bytearray = field(default_factory=bytearray)
    _overflow: bool = False

    def feed(self, data: bytes) -> list[Frame]:
        """Take received bytes; return the good frames completed by them."""
        out: list[Frame] = []
        for byte in data:
            if byte == DELIMITER:
                if self._overflow:
                    self.dropped.add(FrameFault.CORRUPT)
                elif self._buf:
                    self._finish(out)
                self._buf.clear()
                self._overflow = False
            elif self._overflow:
                continue
            elif len(self._buf) == MAX_ENCODED:
                self._overflow = True
            else:
                self._buf.append(byte)
        return out

    def pending(self) -> bool:
        """True while part of a frame waits for its end."""
        return bool(self._buf) or self._overflow

    def expire(self) -> None:
        """Drop a frame the sender stopped in the middle of."""
        if self._overflow:
            self.dropped.add(FrameFault.CORRUPT)
        elif self._buf:
            self.dropped.add(FrameFault.TRUNCATED)
        self._buf.clear()
        self._overflow = False

    def _finish(self, out: list[Frame]) -> None:
        try:
            frame = decode_frame(bytes(self._buf), self.known)
        except MalformedFrameError as err:
            self.dropped.add(err.fault)
            return
        self.frames += 1
        out.append(frame)
