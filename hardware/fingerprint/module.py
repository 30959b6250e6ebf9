"""Blocking driver of an R30x/AS608-class fingerprint module on a serial port.

The port is injected (a pyserial `serial.Serial` in production, see `open_serial`). Every read
has a deadline. The card's template passes from the caller to the module and nowhere else: it is
never logged, and the packet buffers that carry it are wiped. Raw packets are logged only at the
TRAFFIC level, with data packets and the password redacted.
"""

from __future__ import annotations

import logging
import termios
import threading
import time
from collections.abc import Callable

import serial

from common.buffers import wipe
from hardware import TRAFFIC, traffic_enabled
from hardware.fingerprint.errors import (
    FingerTimeoutError,
    FrameFault,
    MalformedPacketError,
    NoFingerError,
    SensorCancelledError,
    SensorPortError,
    SensorTimeoutError,
)
from hardware.fingerprint.packet import (
    DEFAULT_ADDRESS,
    HEAD_SIZE,
    HEADER,
    PACKET_SIZES,
    Instruction,
    MatchResult,
    Packet,
    PacketId,
    SystemParameters,
    build_command,
    build_data_packets,
    check_ack,
    parse_chip_serial,
    parse_head,
    parse_match,
    parse_packet,
    parse_system_parameters,
)
from hardware.serial_port import SerialPort

_log = logging.getLogger(__name__)

DEFAULT_BAUD = 57600
DEFAULT_TIMEOUT = 2.0  # seconds for a whole answer; GenImg alone can take ~0.5 s on a module
MAX_TEMPLATE_SIZE = 4096  # refuse uploads larger than this
CHAR_BUFFERS = (1, 2)
_TIMEOUT_SLACK = 0.02  # shorten the port's read timeout only when it would overshoot by more
# what pyserial lets out when the port fails (termios.error leaks from its POSIX backend)
_PORT_ERRORS = (serial.SerialException, OSError, termios.error)


def open_serial(
    path: str, baud: int = DEFAULT_BAUD, *, timeout: float = DEFAULT_TIMEOUT
) -> serial.Serial:
    """Open the module's UART (8N1, exclusive) with pyserial."""
    try:
        return serial.Serial(
            path, baudrate=baud, timeout=timeout, write_timeout=timeout, exclusive=True
        )
    except _PORT_ERRORS as err:
        raise SensorPortError(f"cannot open the fingerprint module port {path}") from err


class FingerprintModule:
    """One fingerprint module on a serial port: capture, extract, download a template, match.

    Blocking calls (the agent runs them in an executor); one exchange at a time. Raises
    SensorError subclasses from `hardware.fingerprint.errors` only.
    """

    def __init__(
        self,
        port: SerialPort,
        address: int = DEFAULT_ADDRESS,
        password: int = 0,
        packet_size: int = 128,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not 0 <= address <= 0xFFFFFFFF or not 0 <= password <= 0xFFFFFFFF:
            raise ValueError("address and password are 32-bit values")
        if packet_size not in PACKET_SIZES:
            raise ValueError(f"packet size must be one of {PACKET_SIZES}")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._port = port
        self._address = address
        self._password = password
        self._packet_size = packet_size
        self._timeout = timeout
        self._lock = threading.RLock()
        self._finger_down = False  # the last GenImg found a finger (no "no finger" since)

    def __repr__(self) -> str:
        return f"FingerprintModule(address=0x{self._address:08X}, timeout={self._timeout})"

    # --- commands -----------------------------------------------------------------------------

    def verify_password(self) -> None:
        """VfyPwd: unlock the module with its password (WrongPasswordError if refused)."""
        check_ack(self._exchange(Instruction.VFY_PWD, self._password.to_bytes(4, "big")))

    def capture_image(self) -> None:
        """GenImg: take an image of the finger on the sensor (NoFingerError if there is none)."""
        try:
            check_ack(self._exchange(Instruction.GEN_IMG))
        except NoFingerError:
            self._finger_down = False
            raise
        self._finger_down = True

    def image_to_buffer(self, buffer_id: int) -> None:
        """Img2Tz: extract features of the image into character buffer 1 or 2."""
        _check_buffer(buffer_id)
        check_ack(self._exchange(Instruction.IMG2TZ, bytes([buffer_id])))

    def download_template(self, buffer_id: int, template: bytes | bytearray) -> None:
        """DownChar: send a template (the card's) into character buffer 1 or 2."""
        _check_buffer(buffer_id)
        if not template:
            raise ValueError("empty template")
        if len(template) > MAX_TEMPLATE_SIZE:
            raise ValueError(f"template longer than {MAX_TEMPLATE_SIZE} bytes")
        with self._lock:
            check_ack(self._exchange(Instruction.DOWN_CHAR, bytes([buffer_id])))
            for frame in build_data_packets(template, self._packet_size, self._address):
                try:
                    self._send(frame, redact=True)
                finally:
                    wipe(frame)

    def upload_template(self, buffer_id: int) -> bytearray:
        """UpChar: read character buffer 1 or 2 out of the module (the caller wipes it)."""
        _check_buffer(buffer_id)
        out = bytearray()
        with self._lock:
            check_ack(self._exchange(Instruction.UP_CHAR, bytes([buffer_id])))
            try:
                while True:
                    packet = self._receive(time.monotonic() + self._timeout)
                    try:
                        last = self._take_data(packet, out)
                    finally:
                        packet.wipe()
                    if last:
                        return out
            except BaseException:
                wipe(out)
                raise

    def match(self) -> MatchResult:
        """Match: compare character buffers 1 and 2; a mismatch is a result, not an error."""
        return parse_match(self._exchange(Instruction.MATCH))

    def read_system_parameters(self) -> SystemParameters:
        """ReadSysPara: the module's status, library size, address, packet size and baud."""
        return parse_system_parameters(self._exchange(Instruction.READ_SYS_PARA))

    def read_chip_serial(self) -> str:
        """GetChipSN: the module chip's serial number (text, or upper-case hex)."""
        return parse_chip_serial(self._exchange(Instruction.GET_CHIP_SN, b"\x00"))

    def verify_finger(
        self,
        template: bytes | bytearray,
        *,
        finger_timeout: float,
        clock: Callable[[], float] = time.monotonic,
        cancel: threading.Event | None = None,
        fresh_press: bool = False,
    ) -> MatchResult:
        """Wait for a finger, then match it 1:1 against `template` on the module.

        Polls GenImg until a finger is there or `clock()` passes `finger_timeout` seconds
        (FingerTimeoutError); then Img2Tz into buffer 1, DownChar the template into buffer 2,
        Match. Setting `cancel` ends the wait with SensorCancelledError. With `fresh_press`, a
        finger still on the sensor since the last capture must be lifted first, so that one
        press never counts as several tries.
        """
        with self._lock:
            deadline = clock() + finger_timeout
            while fresh_press and self._finger_down:
                if cancel is not None and cancel.is_set():
                    raise SensorCancelledError("wait for a finger cancelled")
                try:
                    self.capture_image()
                except NoFingerError:
                    break
                if clock() >= deadline:
                    raise FingerTimeoutError("the finger was not lifted before the timeout")
            while True:
                if cancel is not None and cancel.is_set():
                    raise SensorCancelledError("wait for a finger cancelled")
                try:
                    self.capture_image()
                    break
                except NoFingerError as err:
                    if clock() >= deadline:
                        raise FingerTimeoutError("no finger before the timeout", err.code) from None
            self.image_to_buffer(1)
            self.download_template(2, template)
            return self.match()

    # --- exchanges ----------------------------------------------------------------------------

    def _exchange(self, instruction: Instruction, params: bytes = b"") -> Packet:
        """Send one command and return its acknowledge packet."""
        with self._lock:
            self._reset_input()
            frame = build_command(instruction, params, self._address)
            try:
                self._send(frame, redact=instruction is Instruction.VFY_PWD)
            finally:
                wipe(frame)
            packet = self._receive(time.monotonic() + self._timeout)
            if packet.pid is not PacketId.ACK:
                packet.wipe()
                self._reset_input()
                raise MalformedPacketError("expected an acknowledge packet", FrameFault.UNEXPECTED)
            return packet

    def _take_data(self, packet: Packet, out: bytearray) -> bool:
        """Append one data packet of an upload to `out`; True on the last one."""
        if packet.pid not in (PacketId.DATA, PacketId.END_DATA):
            raise MalformedPacketError("expected a data packet", FrameFault.UNEXPECTED)
        if len(packet.payload) > self._packet_size:
            raise MalformedPacketError("data packet too long", FrameFault.LENGTH)
        if len(out) + len(packet.payload) > MAX_TEMPLATE_SIZE:
            raise MalformedPacketError("template too long", FrameFault.LENGTH)
        out += packet.payload
        return packet.pid is PacketId.END_DATA

    def _send(self, frame: bytearray, *, redact: bool) -> None:
        if traffic_enabled(_log):
            if redact:
                _log.log(TRAFFIC, "tx packet id %02X, %d bytes (redacted)", frame[6], len(frame))
            else:
                _log.log(TRAFFIC, "tx %s", frame.hex(" "))
        try:
            self._port.write(frame)
        except serial.SerialTimeoutException as err:
            raise SensorTimeoutError("fingerprint module port would not take the packet") from err
        except _PORT_ERRORS as err:
            raise SensorPortError("write to the fingerprint module failed") from err

    def _receive(self, deadline: float) -> Packet:
        """Read one whole packet before `deadline`; garbage raises MalformedPacketError at once."""
        frame = bytearray()
        try:
            self._read_into(frame, len(HEADER), deadline)
            if frame != HEADER:
                raise MalformedPacketError("no packet header", FrameFault.NOISE)
            self._read_into(frame, HEAD_SIZE - len(HEADER), deadline)
            _, length = parse_head(frame, self._address)
            self._read_into(frame, length, deadline)
            packet = parse_packet(frame, self._address)
        except MalformedPacketError:
            self._reset_input()
            raise
        finally:
            wipe(frame)
        if traffic_enabled(_log):
            if packet.pid is PacketId.ACK:
                _log.log(TRAFFIC, "rx ack %s", packet.payload.hex(" "))
            else:
                _log.log(TRAFFIC, "rx %s, %d bytes (redacted)", packet.pid.name, packet.wire_size)
        return packet

    def _read_into(self, frame: bytearray, n: int, deadline: float) -> None:
        """Append exactly `n` bytes to `frame`, or raise SensorTimeoutError at `deadline`."""
        goal = len(frame) + n
        while len(frame) < goal:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SensorTimeoutError(
                    "fingerprint module did not answer in time"
                    if not frame
                    else "fingerprint module answer cut short"
                )
            try:
                current = self._port.timeout
                if current is None or current > remaining + _TIMEOUT_SLACK:
                    self._port.timeout = remaining
                frame += self._port.read(goal - len(frame))
            except _PORT_ERRORS as err:
                raise SensorPortError("read from the fingerprint module failed") from err

    def _reset_input(self) -> None:
        """Drop stale bytes (a late answer, line noise) and restore the port's read timeout."""
        try:
            self._port.reset_input_buffer()
            if self._port.timeout != self._timeout:
                self._port.timeout = self._timeout
        except _PORT_ERRORS as err:
            raise SensorPortError("fingerprint module port failed") from err


def _check_buffer(buffer_id: int) -> None:
    if buffer_id not in CHAR_BUFFERS:
        raise ValueError(f"character buffer must be one of {CHAR_BUFFERS}")
