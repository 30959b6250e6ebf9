"""A simulated R30x/AS608 fingerprint module on a real pty.

The simulator owns the master side of a pseudo-terminal and speaks the module's packet protocol
there from its own thread; our real driver opens `port_path` (the slave side) with pyserial, as it
would open /dev/serial0 on a kiosk. A pty ignores baud rates, so every packet sent or received
costs the wire time of the configured baud (10 bits a byte). Tests and the kiosk-sim control
surface script the finger from other threads: `place()`, `place_other()`, `poor_image()`,
`lift()`, `set_unresponsive()`, `send_raw_next()`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import select
import threading
import tty
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType

from common.buffers import wipe
from hardware.fingerprint.errors import FrameFault, MalformedPacketError
from hardware.fingerprint.packet import (
    DEFAULT_ADDRESS,
    NO_MATCH,
    OK,
    PACKET_SIZES,
    Instruction,
    Packet,
    PacketId,
    PacketParser,
    SystemParameters,
    build_ack,
    build_data_packets,
    encode_system_parameters,
)

_log = logging.getLogger(__name__)

BITS_PER_BYTE = 10  # start bit, 8 data bits, stop bit
MAX_TEMPLATE_SIZE = 4096
IDLE_GAP = 0.02  # seconds of silence after which a half-received packet is dropped
LIBRARY_SIZE = 1000
SECURITY_LEVEL = 3
SYSTEM_ID = 0x0009

# confirmation codes the simulator answers with
_RECEIVE_ERROR = 0x01
_NO_FINGER = 0x02
_OUT_OF_RANGE = 0x0B
_UPLOAD_FAILED = 0x0D
_WRONG_PASSWORD = 0x13
_NO_VALID_IMAGE = 0x15
_PASSWORD_REQUIRED = 0x21
_UNSUPPORTED = 0xFC
_POOR_IMAGE_CODES = (0x06, 0x07)


@dataclass(frozen=True)
class SimStats:
    """Counters of what the simulated module saw and did."""

    bytes_received: int = 0  # counted once handled and answered
    packets: int = 0  # well-formed packets received
    bad_packets: int = 0  # malformed frames, unexpected packets
    noise_bytes_runs: int = 0  # runs of bytes outside any packet
    replies: int = 0  # packets (or raw answers) sent
    pending: int = 0  # bytes held waiting for the rest of a packet
    commands: Mapping[int, int] = field(default_factory=dict)  # by instruction code
    empty_captures: int = 0  # GenImg answered "no finger"


def wire_time(n_bytes: int, baud: int) -> float:
    """Seconds that `n_bytes` take on a UART at `baud`."""
    return n_bytes * BITS_PER_BYTE / baud


class FingerprintSim:
    """A fingerprint module behind a real pty; scriptable from any thread."""

    def __init__(
        self,
        baud: int = 57600,
        *,
        address: int = DEFAULT_ADDRESS,
        password: int = 0,
        packet_size: int = 128,
    ) -> None:
        if baud <= 0:
            raise ValueError("baud must be positive")
        if packet_size not in PACKET_SIZES:
            raise ValueError(f"packet size must be one of {PACKET_SIZES}")
        self.baud = baud
        self.address = address
        self._password = password
        self._packet_size = packet_size
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.port_path: str = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._parser = PacketParser(address=None)  # other addresses are counted, not answered
        # finger state, guarded by _cond
        self._finger: bytearray | None = None
        self._finger_poor: int = OK
        self._presses: int | None = None
        self._empty_captures = 0  # captures left before a touching finger lifts
        self._unresponsive = False
        self._raw_answers: list[bytes] = []
        # module state, touched only by the simulator thread
        self._verified = password == 0
        self._image: bytearray | None = None
        self._image_poor = OK
        self._buffers: dict[int, bytearray | None] = {1: None, 2: None}
        self._download: tuple[int, bytearray] | None = None
        # counters, guarded by _cond
        self._bytes = 0
        self._packets = 0
        self._bad = 0
        self._noise = 0
        self._replies = 0
        self._commands: Counter[int] = Counter()
        self._thread = threading.Thread(target=self._run, name="fingerprint-sim", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"FingerprintSim({self.port_path!r}, baud={self.baud})"

    def __enter__(self) -> FingerprintSim:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- scripting ----------------------------------------------------------------------------

    def place(self, template: bytes | bytearray) -> None:
        """A finger whose capture yields `template` is on the sensor."""
        with self._cond:
            self._set_finger(bytearray(template), OK)

    def touch(self, template: bytes | bytearray) -> None:
        """A finger whose capture yields `template` rests on the sensor for one capture only."""
        with self._cond:
            self._set_finger(bytearray(template), OK, presses=1)

    def place_other(self, *, touch: bool = False) -> None:
        """Some finger that matches nobody's template is on the sensor (one capture if touch)."""
        other = hashlib.shake_256(b"simulated other finger").digest(512)
        with self._cond:
            self._set_finger(bytearray(other), OK, presses=1 if touch else None)

    def poor_image(self, code: int = 0x06) -> None:
        """A finger is on the sensor but its image is unusable (Img2Tz answers `code`)."""
        if code not in _POOR_IMAGE_CODES:
            raise ValueError(f"poor-image code must be one of {_POOR_IMAGE_CODES}")
        with self._cond:
            self._set_finger(bytearray(512), code)

    def lift(self) -> None:
        """No finger on the sensor (GenImg answers 0x02)."""
        with self._cond:
            self._set_finger(None, OK)

    def set_unresponsive(self, unresponsive: bool) -> None:
        """Make the module go silent (it reads and ignores everything) or come back."""
        with self._cond:
            self._unresponsive = unresponsive

    def send_raw_next(self, data: bytes) -> None:
        """Answer the next command with exactly these bytes instead of a proper answer."""
        with self._cond:
            self._raw_answers.append(bytes(data))

    @property
    def stats(self) -> SimStats:
        """A snapshot of the counters."""
        with self._cond:
            return self._snapshot()

    def wait_for(self, predicate: Callable[[SimStats], bool], timeout: float) -> bool:
        """Block until `predicate(stats)` holds (True) or `timeout` seconds pass (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self._snapshot()), timeout)

    def close(self) -> None:
        """Stop the thread, close the pty and wipe every template buffer."""
        if self._stop.is_set():
            return
        self._stop.set()
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        with self._cond:
            self._set_finger(None, OK)
        self._reset_module()

    # --- the simulator thread -----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            timeout = IDLE_GAP if self._parser.pending else None
            try:
                ready, _, _ = select.select([self._master, self._wake_r], [], [], timeout)
            except OSError:
                return
            if self._wake_r in ready:
                return
            received = 0
            try:
                if ready:
                    data = os.read(self._master, 4096)
                    received = len(data)
                    events = self._parser.feed(data)
                else:
                    events = self._parser.expire()
                for event in events:
                    self._handle(event)
            except OSError as err:
                if err.errno in (errno.EAGAIN, errno.EINTR):
                    continue
                if err.errno == errno.EIO:  # nobody has the slave side open
                    self._stop.wait(IDLE_GAP)
                    continue
                _log.exception("fingerprint simulator I/O failed")
                return
            except Exception:
                _log.exception("fingerprint simulator failed on a packet")
                with self._cond:
                    self._bad += 1
            with self._cond:  # counted once handled, so a waiter sees every answer sent
                self._bytes += received
                self._cond.notify_all()

    def _handle(self, event: Packet | MalformedPacketError) -> None:
        if isinstance(event, MalformedPacketError):
            self._on_malformed(event)
            return
        try:
            self._stop.wait(wire_time(event.wire_size, self.baud))
            self._on_packet(event)
        finally:
            event.wipe()

    def _on_malformed(self, err: MalformedPacketError) -> None:
        with self._cond:
            if err.fault is FrameFault.NOISE:
                self._noise += 1
                return
            self._bad += 1
            silent = self._unresponsive
        # a frame meant for this module that arrived damaged: say so, like the real module
        if not silent and err.fault in (FrameFault.CHECKSUM, FrameFault.LENGTH):
            self._reply(build_ack(_RECEIVE_ERROR, address=self.address))

    def _on_packet(self, packet: Packet) -> None:
        with self._cond:
            if packet.address != self.address:
                self._bad += 1
                return
            self._packets += 1
            if self._unresponsive:
                return
        if packet.pid is PacketId.COMMAND:
            self._download = None
            self._on_command(packet)
        elif packet.pid in (PacketId.DATA, PacketId.END_DATA) and self._download is not None:
            self._on_data(packet)
        else:
            with self._cond:
                self._bad += 1

    def _on_data(self, packet: Packet) -> None:
        assert self._download is not None
        buffer_id, buf = self._download
        if len(packet.payload) > self._packet_size or len(buf) + len(packet.payload) > (
            MAX_TEMPLATE_SIZE
        ):
            self._download = None
            wipe(buf)
            with self._cond:
                self._bad += 1
            return
        buf += packet.payload
        if packet.pid is PacketId.END_DATA:
            self._download = None
            self._store(buffer_id, buf)

    def _on_command(self, packet: Packet) -> None:
        instruction = packet.payload[0]
        params = bytes(packet.payload[1:])
        with self._cond:
            self._commands[instruction] += 1
            raw = self._raw_answers.pop(0) if self._raw_answers else None
        if raw is not None:
            self._reply(raw)
            return
        if not self._verified and instruction != Instruction.VFY_PWD:
            self._ack(_PASSWORD_REQUIRED)
            return
        handlers: dict[int, Callable[[bytes], None]] = {
            Instruction.VFY_PWD: self._vfy_pwd,
            Instruction.GEN_IMG: self._gen_img,
            Instruction.IMG2TZ: self._img2tz,
            Instruction.MATCH: self._match,
            Instruction.UP_CHAR: self._up_char,
            Instruction.DOWN_CHAR: self._down_char,
            Instruction.READ_SYS_PARA: self._read_sys_para,
        }
        handler = handlers.get(instruction)
        if handler is None:
            self._ack(_UNSUPPORTED)
        else:
            handler(params)

    # --- commands -----------------------------------------------------------------------------

    def _vfy_pwd(self, params: bytes) -> None:
        if len(params) != 4:
            self._ack(_RECEIVE_ERROR)
        elif int.from_bytes(params, "big") == self._password:
            self._verified = True
            self._ack(OK)
        else:
            self._ack(_WRONG_PASSWORD)

    def _gen_img(self, params: bytes) -> None:
        with self._cond:
            finger = None if self._finger is None else bytearray(self._finger)
            poor = self._finger_poor
            if finger is not None and self._presses is not None:
                self._presses -= 1
                if self._presses <= 0:  # a touch: lifted right after this capture
                    self._set_finger(None, OK)
        if finger is None:
            with self._cond:
                self._empty_captures += 1
            self._ack(_NO_FINGER)
            return
        if self._image is not None:
            wipe(self._image)
        self._image, self._image_poor = finger, poor
        self._ack(OK)

    def _img2tz(self, params: bytes) -> None:
        buffer_id = self._buffer_id(params)
        if buffer_id is None:
            return
        if self._image is None:
            self._ack(_NO_VALID_IMAGE)
        elif self._image_poor != OK:
            self._ack(self._image_poor)
        else:
            self._store(buffer_id, bytearray(self._image))
            self._ack(OK)

    def _match(self, params: bytes) -> None:
        one, two = self._buffers[1], self._buffers[2]
        if one is not None and two is not None and one == two:
            score = 80 + zlib.crc32(one) % 121
            self._ack(OK, score.to_bytes(2, "big"))
        else:
            self._ack(NO_MATCH, bytes(2))

    def _up_char(self, params: bytes) -> None:
        buffer_id = self._buffer_id(params)
        if buffer_id is None:
            return
        buf = self._buffers[buffer_id]
        if buf is None:
            self._ack(_UPLOAD_FAILED)
            return
        self._ack(OK)
        for frame in build_data_packets(buf, self._packet_size, self.address):
            self._reply(frame)
            wipe(frame)

    def _down_char(self, params: bytes) -> None:
        buffer_id = self._buffer_id(params)
        if buffer_id is None:
            return
        self._download = (buffer_id, bytearray())
        self._ack(OK)

    def _read_sys_para(self, params: bytes) -> None:
        sys_params = SystemParameters(
            status_register=0,
            system_id=SYSTEM_ID,
            library_size=LIBRARY_SIZE,
            security_level=SECURITY_LEVEL,
            address=self.address,
            packet_size=self._packet_size,
            baud=self.baud if self.baud % 9600 == 0 else 57600,
        )
        self._ack(OK, encode_system_parameters(sys_params))

    # --- helpers ------------------------------------------------------------------------------

    def _buffer_id(self, params: bytes) -> int | None:
        if len(params) != 1:
            self._ack(_RECEIVE_ERROR)
            return None
        if params[0] not in self._buffers:
            self._ack(_OUT_OF_RANGE)
            return None
        return params[0]

    def _store(self, buffer_id: int, buf: bytearray) -> None:
        old = self._buffers[buffer_id]
        if old is not None:
            wipe(old)
        self._buffers[buffer_id] = buf

    def _set_finger(self, finger: bytearray | None, poor: int, presses: int | None = None) -> None:
        if self._finger is not None:
            wipe(self._finger)
        self._finger, self._finger_poor, self._presses = finger, poor, presses

    def _reset_module(self) -> None:
        for buf in (self._image, *self._buffers.values()):
            if buf is not None:
                wipe(buf)
        self._image = None
        self._buffers = {1: None, 2: None}
        if self._download is not None:
            wipe(self._download[1])
            self._download = None
        self._parser.clear()

    def _ack(self, code: int, params: bytes = b"") -> None:
        self._reply(build_ack(code, params, self.address))

    def _reply(self, data: bytes | bytearray) -> None:
        """Send after the wire time, unless told to stop meanwhile."""
        if self._stop.wait(wire_time(len(data), self.baud)):
            return
        sent = 0
        with memoryview(data) as view:
            while sent < len(view):
                _, writable, _ = select.select([self._wake_r], [self._master], [], None)
                if self._stop.is_set():
                    return
                if writable:
                    with contextlib.suppress(BlockingIOError):
                        sent += os.write(self._master, view[sent:])
        with self._cond:
            self._replies += 1

    def _snapshot(self) -> SimStats:
        return SimStats(
            bytes_received=self._bytes,
            packets=self._packets,
            bad_packets=self._bad,
            noise_bytes_runs=self._noise,
            replies=self._replies,
            pending=self._parser.pending,
            commands=dict(self._commands),
            empty_captures=self._empty_captures,
        )
