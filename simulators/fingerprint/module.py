"""The simulated fingerprint module's behaviour: what lies on its sensor, and its answers.

No pty and no thread here: the pty server (`pty_server`) hands the module each packet from its
own thread and sends what the module replies. Every template buffer is wiped when replaced or
dropped.
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from collections.abc import Callable

from common.buffers import wipe
from hardware.fingerprint.packet import (
    CHIP_SERIAL_SIZE,
    NO_MATCH,
    OK,
    Instruction,
    Packet,
    PacketId,
    SystemParameters,
    build_ack,
    build_data_packets,
    encode_system_parameters,
)

MAX_TEMPLATE_SIZE = 4096
LIBRARY_SIZE = 1000
SECURITY_LEVEL = 3
SYSTEM_ID = 0x0009
DEFAULT_CHIP_SERIAL = b"FPM-SIM-0001"
"""The chip serial a simulated module reports (GetChipSN pads it with zeros to 32 bytes)."""

# confirmation codes the simulator answers with
_RECEIVE_ERROR = 0x01
_NO_FINGER = 0x02
_OUT_OF_RANGE = 0x0B
_UPLOAD_FAILED = 0x0D
_WRONG_PASSWORD = 0x13
_NO_VALID_IMAGE = 0x15
_PASSWORD_REQUIRED = 0x21
_UNSUPPORTED = 0xFC
POOR_IMAGE_CODES = (0x06, 0x07)

Reply = Callable[[bytes | bytearray], None]


class Sensor:
    """What lies on the sensor; scripted from any thread, captured from the module's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._finger: bytearray | None = None
        self._quality: int = OK  # what Img2Tz answers for the finger's image
        self._presses: int | None = None  # captures left before a touching finger lifts
        self._empty_captures = 0

    def place(self, template: bytes | bytearray, *, presses: int | None = None) -> None:
        """A finger whose capture yields `template` is on the sensor (for `presses` captures)."""
        with self._lock:
            self._set(bytearray(template), OK, presses)

    def place_other(self, *, presses: int | None = None) -> None:
        """Some finger that matches nobody's template is on the sensor."""
        other = hashlib.shake_256(b"simulated other finger").digest(512)
        with self._lock:
            self._set(bytearray(other), OK, presses)

    def poor_image(self, code: int) -> None:
        """A finger is on the sensor but its image is unusable (Img2Tz answers `code`)."""
        if code not in POOR_IMAGE_CODES:
            raise ValueError(f"poor-image code must be one of {POOR_IMAGE_CODES}")
        with self._lock:
            self._set(bytearray(512), code)

    def lift(self) -> None:
        """No finger on the sensor."""
        with self._lock:
            self._set(None, OK)

    def capture(self) -> tuple[bytearray, int] | None:
        """One GenImg: a copy of the finger's image and its quality code; None without a finger."""
        with self._lock:
            if self._finger is None:
                self._empty_captures += 1
                return None
            image = (bytearray(self._finger), self._quality)
            if self._presses is not None:
                self._presses -= 1
                if self._presses <= 0:  # a touch: lifted right after this capture
                    self._set(None, OK)
            return image

    @property
    def empty_captures(self) -> int:
        """Captures answered "no finger" so far."""
        with self._lock:
            return self._empty_captures

    def _set(self, finger: bytearray | None, quality: int, presses: int | None = None) -> None:
        if self._finger is not None:
            wipe(self._finger)
        self._finger, self._quality, self._presses = finger, quality, presses


class SimulatedModule:
    """The module's state and its answers to commands; used from one thread only."""

    def __init__(
        self,
        sensor: Sensor,
        reply: Reply,
        *,
        address: int,
        password: int,
        packet_size: int,
        baud: int,
        chip_serial: bytes = DEFAULT_CHIP_SERIAL,
    ) -> None:
        if not 1 <= len(chip_serial) <= CHIP_SERIAL_SIZE:
            raise ValueError(f"a chip serial is 1..{CHIP_SERIAL_SIZE} bytes")
        self._chip_serial = chip_serial.ljust(CHIP_SERIAL_SIZE, b"\0")
        self._sensor = sensor
        self._reply = reply
        self._address = address
        self._password = password
        self._packet_size = packet_size
        self._baud = baud
        self._verified = password == 0
        self._image: bytearray | None = None
        self._image_quality = OK
        self._buffers: dict[int, bytearray | None] = {1: None, 2: None}
        self._download: tuple[int, bytearray] | None = None

    def on_command(self, packet: Packet, raw_answer: bytes | None = None) -> None:
        """Answer a command packet, or answer `raw_answer` instead; any download ends here."""
        self._drop_download()
        if raw_answer is not None:
            self._reply(raw_answer)
            return
        instruction = packet.payload[0]
        params = bytes(packet.payload[1:])
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
            Instruction.GET_CHIP_SN: self._get_chip_sn,
        }
        handler = handlers.get(instruction)
        if handler is None:
            self._ack(_UNSUPPORTED)
        else:
            handler(params)

    def on_data(self, packet: Packet) -> bool:
        """Take a data packet of a download; False if none is under way or it grew too large."""
        if self._download is None:
            return False
        buffer_id, buf = self._download
        if len(packet.payload) > self._packet_size or len(buf) + len(packet.payload) > (
            MAX_TEMPLATE_SIZE
        ):
            self._drop_download()
            return False
        buf += packet.payload
        if packet.pid is PacketId.END_DATA:
            self._download = None
            self._store(buffer_id, buf)
        return True

    def on_damaged_frame(self) -> None:
        """A frame meant for this module arrived damaged: say so, like the real module."""
        self._ack(_RECEIVE_ERROR)

    def reset(self) -> None:
        """Forget the image, the buffers and any download, wiping them."""
        for buf in (self._image, *self._buffers.values()):
            if buf is not None:
                wipe(buf)
        self._image = None
        self._buffers = {1: None, 2: None}
        self._drop_download()

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
        captured = self._sensor.capture()
        if captured is None:
            self._ack(_NO_FINGER)
            return
        if self._image is not None:
            wipe(self._image)
        self._image, self._image_quality = captured
        self._ack(OK)

    def _img2tz(self, params: bytes) -> None:
        buffer_id = self._buffer_id(params)
        if buffer_id is None:
            return
        if self._image is None:
            self._ack(_NO_VALID_IMAGE)
        elif self._image_quality != OK:
            self._ack(self._image_quality)
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
        for frame in build_data_packets(buf, self._packet_size, self._address):
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
            address=self._address,
            packet_size=self._packet_size,
            baud=self._baud if self._baud % 9600 == 0 else 57600,
        )
        self._ack(OK, encode_system_parameters(sys_params))

    def _get_chip_sn(self, params: bytes) -> None:
        if len(params) != 1:
            self._ack(_RECEIVE_ERROR)
        else:
            self._ack(OK, self._chip_serial)

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

    def _drop_download(self) -> None:
        if self._download is not None:
            wipe(self._download[1])
            self._download = None

    def _ack(self, code: int, params: bytes = b"") -> None:
        self._reply(build_ack(code, params, self._address))
