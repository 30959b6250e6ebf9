"""Link frames between the supervisor MCU and the Pi (MicroPython; the Pi side is
hardware/supervisor/frame.py, and both are checked against tests/data/mcu_frames.json).

On the wire a frame is 0x00, COBS(body), 0x00, where body = type, seq, payload (0..48 bytes),
CRC-16/CCITT-FALSE of type+seq+payload (big-endian). The leading 0x00 flushes whatever a sender
left half-written; COBS keeps 0x00 out of the body so every 0x00 is a frame boundary.
"""

from micropython import const

# Pi -> MCU
HELLO = const(0x01)
HEARTBEAT = const(0x02)
SET_PATTERN = const(0x03)
BUZZER = const(0x04)
GET_STATUS = const(0x05)
CLEAR_TAMPER = const(0x06)
SET_KEY = const(0x07)
TAMPER_ACK = const(0x08)
GET_ID = const(0x09)
# MCU -> Pi
ACK = const(0x81)
NAK = const(0x82)
STATUS = const(0x83)
TAMPER = const(0x84)
IDENT = const(0x85)

PI_TYPES = (
    HELLO,
    HEARTBEAT,
    SET_PATTERN,
    BUZZER,
    GET_STATUS,
    CLEAR_TAMPER,
    SET_KEY,
    TAMPER_ACK,
    GET_ID,
)
MCU_TYPES = (ACK, NAK, STATUS, TAMPER, IDENT)

MAX_PAYLOAD = const(48)
MIN_BODY = const(4)
MAX_BODY = const(52)  # type + seq + MAX_PAYLOAD + crc
MAX_ENCODED = const(53)  # COBS adds one byte to a body shorter than 254 bytes

# Why a frame was dropped (FrameError.kind)
TRUNCATED = const(1)
CORRUPT = const(2)
UNKNOWN = const(3)


class FrameError(Exception):
    """A received frame was dropped; `kind` is TRUNCATED, CORRUPT or UNKNOWN."""

    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind


def crc16(data):
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of data."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def cobs_encode(data):
    """COBS-encode data: the result holds no 0x00 byte."""
    out = bytearray(1)
    code_at = 0
    code = 1
    last = len(data) - 1
    for i in range(len(data)):
        byte = data[i]
        if byte == 0:
            out[code_at] = code
            code_at = len(out)
            out.append(0)
            code = 1
            continue
        out.append(byte)
        code += 1
        if code == 0xFF and i != last:
            out[code_at] = code
            code_at = len(out)
            out.append(0)
            code = 1
    out[code_at] = code
    return bytes(out)


def cobs_decode(data):
    """Undo cobs_encode; raise FrameError(TRUNCATED) if a block runs past the end."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise FrameError(CORRUPT)
        end = i + code
        if end > n:
            raise FrameError(TRUNCATED)
        out.extend(data[i + 1 : end])
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def encode(mtype, seq, payload=b""):
    """Return the wire bytes of one frame (delimiters included)."""
    if not (0 <= mtype <= 0xFF and 0 <= seq <= 0xFF) or len(payload) > MAX_PAYLOAD:
        raise ValueError("frame field out of range")
    body = bytearray()
    body.append(mtype)
    body.append(seq)
    body.extend(payload)
    crc = crc16(body)
    body.append(crc >> 8)
    body.append(crc & 0xFF)
    return b"\x00" + cobs_encode(body) + b"\x00"


def decode(encoded, known):
    """Decode the bytes between two delimiters into (type, seq, payload); raise FrameError."""
    if len(encoded) > MAX_ENCODED:
        raise FrameError(CORRUPT)
    body = cobs_decode(encoded)
    if len(body) < MIN_BODY:
        raise FrameError(TRUNCATED)
    if len(body) > MAX_BODY:
        raise FrameError(CORRUPT)
    end = len(body) - 2
    if crc16(body[:end]) != (body[end] << 8) | body[end + 1]:
        raise FrameError(CORRUPT)
    if body[0] not in known:
        raise FrameError(UNKNOWN)
    return body[0], body[1], body[2:end]


class Decoder:
    """Cuts a received byte stream into frames; drops and counts the bad ones, never raises."""

    def __init__(self, known):
        self.known = known
        self.frames = 0
        self.truncated = 0
        self.corrupt = 0
        self.unknown = 0
        self._buf = bytearray(MAX_ENCODED)
        self._n = 0
        self._overflow = False

    def feed(self, data):
        """Take received bytes; return the complete good frames as (type, seq, payload)."""
        out = []  # type: list[tuple[int, int, bytes]]
        for byte in data:
            if byte == 0:
                if self._overflow:
                    self.corrupt += 1
                elif self._n:
                    self._finish(out)
                self._n = 0
                self._overflow = False
            elif self._overflow:
                continue
            elif self._n == MAX_ENCODED:
                self._overflow = True
            else:
                self._buf[self._n] = byte
                self._n += 1
        return out

    def pending(self):
        """True while part of a frame is waiting for its end."""
        return self._n > 0 or self._overflow

    def expire(self):
        """Drop a frame the sender stopped in the middle of (called after a silent gap)."""
        if self._overflow:
            self.corrupt += 1
        elif self._n:
            self.truncated += 1
        self._n = 0
        self._overflow = False

    def _finish(self, out):
        try:
            frame = decode(bytes(self._buf[: self._n]), self.known)
        except FrameError as err:
            if err.kind == TRUNCATED:
                self.truncated += 1
            elif err.kind == UNKNOWN:
                self.unknown += 1
            else:
                self.corrupt += 1
            return
        self.frames += 1
        out.append(frame)
