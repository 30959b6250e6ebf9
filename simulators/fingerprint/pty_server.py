"""The simulated fingerprint module's pty: the thread that reads packets and writes answers.

A pty ignores baud rates, so every packet sent or received costs the wire time of the
configured baud (10 bits a byte). The behaviour behind the packets is `module.SimulatedModule`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import threading
import tty
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType

from hardware.fingerprint.errors import FrameFault, MalformedPacketError
from hardware.fingerprint.packet import (
    DEFAULT_ADDRESS,
    PACKET_SIZES,
    Packet,
    PacketId,
    PacketParser,
)
from simulators.fingerprint.module import DEFAULT_CHIP_SERIAL, Sensor, SimulatedModule

_log = logging.getLogger(__name__)

BITS_PER_BYTE = 10  # start bit, 8 data bits, stop bit
IDLE_GAP = 0.02  # seconds of silence after which a half-received packet is dropped


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
        chip_serial: bytes = DEFAULT_CHIP_SERIAL,
    ) -> None:
        if baud <= 0:
            raise ValueError("baud must be positive")
        if packet_size not in PACKET_SIZES:
            raise ValueError(f"packet size must be one of {PACKET_SIZES}")
        self.baud = baud
        self.address = address
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.port_path: str = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._parser = PacketParser(address=None)  # other addresses are counted, not answered
        self._sensor = Sensor()
        self._module = SimulatedModule(
            self._sensor,
            self._reply,
            address=address,
            password=password,
            packet_size=packet_size,
            baud=baud,
            chip_serial=chip_serial,
        )
        # scripted wire behaviour and counters, guarded by _cond
        self._unresponsive = False
        self._raw_answers: list[bytes] = []
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
        self._sensor.place(template)

    def touch(self, template: bytes | bytearray) -> None:
        """A finger whose capture yields `template` rests on the sensor for one capture only."""
        self._sensor.place(template, presses=1)

    def place_other(self, *, touch: bool = False) -> None:
        """Some finger that matches nobody's template is on the sensor (one capture if touch)."""
        self._sensor.place_other(presses=1 if touch else None)

    def poor_image(self, code: int = 0x06) -> None:
        """A finger is on the sensor but its image is unusable (Img2Tz answers `code`)."""
        self._sensor.poor_image(code)

    def lift(self) -> None:
        """No finger on the sensor (GenImg answers 0x02)."""
        self._sensor.lift()

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
        self._sensor.lift()
        self._module.reset()
        self._parser.clear()

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
        if not silent and err.fault in (FrameFault.CHECKSUM, FrameFault.LENGTH):
            self._module.on_damaged_frame()

    def _on_packet(self, packet: Packet) -> None:
        with self._cond:
            if packet.address != self.address:
                self._bad += 1
                return
            self._packets += 1
            if self._unresponsive:
                return
        if packet.pid is PacketId.COMMAND:
            with self._cond:
                self._commands[packet.payload[0]] += 1
                raw = self._raw_answers.pop(0) if self._raw_answers else None
            self._module.on_command(packet, raw)
        elif packet.pid not in (PacketId.DATA, PacketId.END_DATA) or not self._module.on_data(
            packet
        ):
            with self._cond:
                self._bad += 1

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
            empty_captures=self._sensor.empty_captures,
        )
