"""Packets of the R30x/AS608 fingerprint module UART protocol: a pure codec, no I/O.

A packet on the wire:

    EF 01 | address (4) | packet id (1) | length (2) | payload (length - 2) | checksum (2)

all big-endian; `length` counts the payload and the checksum; the checksum is the low 16 bits of
the sum of the packet id, the two length bytes and every payload byte. Payloads of data packets
hold template bytes: they live in `bytearray`s that their owner wipes, and no repr shows them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

from common.buffers import wipe
from hardware.fingerprint.errors import FrameFault, MalformedPacketError, error_for_code

HEADER = b"\xef\x01"
DEFAULT_ADDRESS = 0xFFFFFFFF
HEAD_SIZE = 9  # header, address, packet id, length
MAX_PAYLOAD = 256  # the largest data packet; every command and ack is shorter
PACKET_SIZES = (32, 64, 128, 256)  # data packet sizes, by the module's size code 0..3
BAUD_UNIT = 9600  # the module's baud rate is N x 9600


class PacketId(IntEnum):
    """The packet identifier byte."""

    COMMAND = 0x01
    DATA = 0x02
    ACK = 0x07
    END_DATA = 0x08


class Instruction(IntEnum):
    """Instruction codes of the commands this project uses."""

    GEN_IMG = 0x01
    IMG2TZ = 0x02
    MATCH = 0x03
    UP_CHAR = 0x08
    DOWN_CHAR = 0x09
    READ_SYS_PARA = 0x0F
    GET_CHIP_SN = 0x34  # R503-class modules: the chip's 32-byte serial number
    VFY_PWD = 0x13


OK = 0x00  # the confirmation code of success
NO_MATCH = 0x08  # the Match command's "fingers differ", not an error
CHIP_SERIAL_SIZE = 32


@dataclass(slots=True, repr=False)
class Packet:
    """One decoded packet; `payload` excludes the checksum."""

    pid: PacketId
    payload: bytearray
    address: int = DEFAULT_ADDRESS

    @property
    def wire_size(self) -> int:
        """Bytes the packet takes on the wire."""
        return HEAD_SIZE + len(self.payload) + 2

    def wipe(self) -> None:
        """Overwrite the payload with zeros and drop it."""
        wipe(self.payload)

    def __repr__(self) -> str:
        return f"Packet({self.pid.name}, {len(self.payload)} payload bytes)"


@dataclass(frozen=True, slots=True)
class MatchResult:
    """The module's verdict on two character files: `score` is its similarity score."""

    matched: bool
    score: int


@dataclass(frozen=True, slots=True)
class SystemParameters:
    """What ReadSysPara reports."""

    status_register: int
    system_id: int
    library_size: int
    security_level: int
    address: int
    packet_size: int
    baud: int


def checksum(pid: int, payload: bytes | bytearray | memoryview) -> int:
    """The 16-bit checksum of a packet with this identifier and payload."""
    length = len(payload) + 2
    return (pid + (length >> 8) + (length & 0xFF) + sum(payload)) & 0xFFFF


def build_packet(
    pid: PacketId, payload: bytes | bytearray | memoryview, address: int = DEFAULT_ADDRESS
) -> bytearray:
    """Encode one packet; the result is a bytearray so that data packets can be wiped."""
    if not 0 <= address <= 0xFFFFFFFF:
        raise ValueError("address must fit in 32 bits")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload longer than {MAX_PAYLOAD} bytes")
    length = len(payload) + 2
    frame = bytearray(HEADER)
    frame += address.to_bytes(4, "big")
    frame.append(pid)
    frame += length.to_bytes(2, "big")
    frame += payload
    frame += checksum(pid, payload).to_bytes(2, "big")
    return frame


def build_command(
    instruction: Instruction, params: bytes = b"", address: int = DEFAULT_ADDRESS
) -> bytearray:
    """Encode a command packet: instruction code then its parameters."""
    return build_packet(PacketId.COMMAND, bytes([instruction]) + params, address)


def build_ack(code: int, params: bytes = b"", address: int = DEFAULT_ADDRESS) -> bytearray:
    """Encode an acknowledge packet: confirmation code then its return parameters."""
    return build_packet(PacketId.ACK, bytes([code]) + params, address)


def build_data_packets(
    data: bytes | bytearray, packet_size: int, address: int = DEFAULT_ADDRESS
) -> Iterator[bytearray]:
    """Split `data` into data packets of `packet_size` bytes, the last one END_DATA.

    Each chunk copied out of a bytearray is wiped once its packet is built.
    """
    if packet_size not in PACKET_SIZES:
        raise ValueError(f"packet size must be one of {PACKET_SIZES}")
    if not data:
        raise ValueError("nothing to send")
    for start in range(0, len(data), packet_size):
        last = start + packet_size >= len(data)
        chunk = data[start : start + packet_size]
        frame = build_packet(PacketId.END_DATA if last else PacketId.DATA, chunk, address)
        if isinstance(chunk, bytearray):
            wipe(chunk)
        yield frame


def _min_payload(pid: PacketId) -> int:
    return 1 if pid in (PacketId.COMMAND, PacketId.ACK) else 0


def parse_head(
    head: bytes | bytearray, address: int | None = DEFAULT_ADDRESS
) -> tuple[PacketId, int]:
    """Check the first 9 bytes of a packet; return its identifier and its length field.

    `address` None accepts any module address.
    """
    if len(head) < HEAD_SIZE:
        raise MalformedPacketError("packet head cut short", FrameFault.TRUNCATED)
    if head[:2] != HEADER:
        raise MalformedPacketError("no packet header", FrameFault.NOISE)
    if address is not None and int.from_bytes(head[2:6], "big") != address:
        raise MalformedPacketError("wrong address", FrameFault.ADDRESS)
    try:
        pid = PacketId(head[6])
    except ValueError:
        raise MalformedPacketError("bad packet id", FrameFault.PACKET_ID) from None
    length = int.from_bytes(head[7:9], "big")
    if not 2 + _min_payload(pid) <= length <= MAX_PAYLOAD + 2:
        raise MalformedPacketError("bad length", FrameFault.LENGTH)
    return pid, length


def parse_packet(frame: bytes | bytearray, address: int | None = DEFAULT_ADDRESS) -> Packet:
    """Decode exactly one complete packet; anything else raises MalformedPacketError."""
    _, length = parse_head(frame, address)
    if len(frame) > HEAD_SIZE + length:
        raise MalformedPacketError("bytes after the packet", FrameFault.NOISE)
    return _decode(frame, address)


def _decode(buf: bytes | bytearray, address: int | None) -> Packet:
    """Decode the packet at the start of `buf`, copying only its payload out."""
    pid, length = parse_head(buf, address)
    end = HEAD_SIZE + length
    if len(buf) < end:
        raise MalformedPacketError("packet cut short", FrameFault.TRUNCATED)
    body = buf[HEAD_SIZE : end - 2]  # a bytearray slice is the one copy, owned by the Packet
    payload = body if isinstance(body, bytearray) else bytearray(body)
    if int.from_bytes(buf[end - 2 : end], "big") != checksum(pid, payload):
        wipe(payload)
        raise MalformedPacketError("bad packet", FrameFault.CHECKSUM)
    return Packet(pid, payload, int.from_bytes(buf[2:6], "big"))


class PacketParser:
    """A streaming decoder that resynchronises on the next header after garbage.

    `feed()` returns, in order, the packets found and a MalformedPacketError (as a value, not
    raised) for every run of bytes that was skipped. A frame that stalls half-way stays
    pending until more bytes come or `expire()` gives up on it.
    """

    def __init__(self, address: int | None = DEFAULT_ADDRESS) -> None:
        self._address = address
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held while waiting for the rest of a packet."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray) -> list[Packet | MalformedPacketError]:
        """Take more bytes; return what they completed."""
        self._buf += data
        return self._drain()

    def expire(self) -> list[Packet | MalformedPacketError]:
        """Give up on the pending bytes (the line went idle mid-packet); salvage whole packets."""
        events: list[Packet | MalformedPacketError] = []
        while self._buf:
            self._discard(1)
            events.append(MalformedPacketError("line idle mid-packet", FrameFault.TRUNCATED))
            events += self._drain()
        return events

    def clear(self) -> None:
        """Wipe and drop the pending bytes."""
        self._discard(len(self._buf))

    def _discard(self, n: int) -> None:
        self._buf[:n] = bytes(n)
        del self._buf[:n]

    def _drain(self) -> list[Packet | MalformedPacketError]:
        events: list[Packet | MalformedPacketError] = []
        while self._buf:
            start = self._buf.find(HEADER)
            if start < 0:
                # keep a trailing first header byte: its partner may be on the way
                keep = 1 if self._buf[-1] == HEADER[0] else 0
                start = len(self._buf) - keep
            if start > 0:
                self._discard(start)
                events.append(MalformedPacketError("garbage skipped", FrameFault.NOISE))
                continue
            if len(self._buf) < HEAD_SIZE:
                break
            try:
                _, length = parse_head(self._buf, self._address)
            except MalformedPacketError as err:
                self._discard(1)
                events.append(err)
                continue
            if len(self._buf) < HEAD_SIZE + length:
                break
            try:
                events.append(_decode(self._buf, self._address))
            except MalformedPacketError as err:
                self._discard(1)
                events.append(err)
                continue
            self._discard(HEAD_SIZE + length)
        return events


def ack_code(packet: Packet) -> int:
    """The confirmation code of an acknowledge packet."""
    if packet.pid is not PacketId.ACK or not packet.payload:
        raise MalformedPacketError("expected an acknowledge packet", FrameFault.UNEXPECTED)
    return packet.payload[0]


def check_ack(packet: Packet) -> None:
    """Raise the typed error of a non-zero confirmation code."""
    code = ack_code(packet)
    if code != OK:
        raise error_for_code(code)


def parse_match(packet: Packet) -> MatchResult:
    """Decode the acknowledge of Match: code 0x00 or 0x08, then a 16-bit score."""
    code = ack_code(packet)
    if code not in (OK, NO_MATCH):
        raise error_for_code(code)
    if len(packet.payload) != 3:
        raise MalformedPacketError("match answer of the wrong size", FrameFault.UNEXPECTED)
    score = int.from_bytes(packet.payload[1:3], "big")
    return MatchResult(matched=code == OK, score=score)


def parse_system_parameters(packet: Packet) -> SystemParameters:
    """Decode the acknowledge of ReadSysPara: code then 16 bytes of parameters."""
    check_ack(packet)
    p = packet.payload
    if len(p) != 17:
        raise MalformedPacketError("system parameters of the wrong size", FrameFault.UNEXPECTED)
    size_code = int.from_bytes(p[13:15], "big")
    if size_code >= len(PACKET_SIZES):
        raise MalformedPacketError("unknown packet size code", FrameFault.UNEXPECTED)
    return SystemParameters(
        status_register=int.from_bytes(p[1:3], "big"),
        system_id=int.from_bytes(p[3:5], "big"),
        library_size=int.from_bytes(p[5:7], "big"),
        security_level=int.from_bytes(p[7:9], "big"),
        address=int.from_bytes(p[9:13], "big"),
        packet_size=PACKET_SIZES[size_code],
        baud=int.from_bytes(p[15:17], "big") * BAUD_UNIT,
    )


def parse_chip_serial(packet: Packet) -> str:
    """Decode the acknowledge of GetChipSN: code then 32 bytes, zero-padded.

    A printable ASCII serial is returned as text, any other as upper-case hex (trailing zero
    bytes dropped either way).
    """
    check_ack(packet)
    raw = bytes(packet.payload[1:]).rstrip(b"\0")
    if len(packet.payload) != 1 + CHIP_SERIAL_SIZE or not raw:
        raise MalformedPacketError("chip serial of the wrong size", FrameFault.UNEXPECTED)
    if all(0x21 <= b <= 0x7E for b in raw):
        return raw.decode("ascii")
    return raw.hex().upper()


def encode_system_parameters(params: SystemParameters) -> bytes:
    """The 16 parameter bytes of a ReadSysPara answer (for the simulator)."""
    return b"".join(
        (
            params.status_register.to_bytes(2, "big"),
            params.system_id.to_bytes(2, "big"),
            params.library_size.to_bytes(2, "big"),
            params.security_level.to_bytes(2, "big"),
            params.address.to_bytes(4, "big"),
            PACKET_SIZES.index(params.packet_size).to_bytes(2, "big"),
            (params.baud // BAUD_UNIT).to_bytes(2, "big"),
        )
    )
