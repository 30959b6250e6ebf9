"""Driver of the supervisor MCU on a serial port: heartbeats, LED patterns, buzzer, status,
tamper reports and the authenticated tamper clear.

A reader thread owns the receiving side; requests are blocking (the agent runs them in an
executor) and may come from several threads. Tamper reports arrive on the reader thread through
`on_tamper`: an asyncio caller hands them to its loop with `loop.call_soon_threadsafe`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from hardware import TRAFFIC, traffic_enabled
from hardware.serial_port import SerialPort
from hardware.supervisor.errors import (
    FrameFault,
    MalformedFrameError,
    SupervisorError,
    SupervisorPortError,
    SupervisorRefusedError,
    SupervisorTimeoutError,
    TamperClearRefusedError,
)
from hardware.supervisor.frame import Frame, FrameDecoder, MsgType, encode_frame
from hardware.supervisor.messages import (
    McuIdentity,
    McuPattern,
    McuStatus,
    TamperCause,
    TamperReport,
    buzzer_payload,
    clear_payload,
    hello_payload,
    parse_ack,
    parse_ident,
    parse_nak,
    parse_status,
    parse_tamper,
    pattern_payload,
    set_key_payload,
    tamper_ack_payload,
)

_log = logging.getLogger(__name__)

DEFAULT_RESPONSE_TIMEOUT = 1.0
DEFAULT_LINK_TIMEOUT = 15.0
FRAME_GAP = 0.1  # silence that ends a half-received frame
_READ_MAX = 512


@dataclass(frozen=True, slots=True)
class SupervisorHealth:
    """What the agent's health report carries about the MCU (no I/O to get it)."""

    link_up: bool
    last_seen_s: float | None  # seconds since the last good frame from the MCU
    reset_count: int | None  # power cycles of the Pi, from the last status (None: none yet)
    tamper_latched: bool
    tamper_causes: TamperCause
    tamper_seq: int | None
    frames_dropped: int  # bad frames from the MCU dropped by this driver

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (cause names sorted)."""
        return {
            "link_up": self.link_up,
            "last_seen_s": None if self.last_seen_s is None else round(self.last_seen_s, 3),
            "reset_count": self.reset_count,
            "tamper_latched": self.tamper_latched,
            "tamper_causes": sorted(
                str(c.name).lower() for c in TamperCause if c in self.tamper_causes
            ),
            "tamper_seq": self.tamper_seq,
            "frames_dropped": self.frames_dropped,
        }


class _Waiter:
    def __init__(self, request: MsgType) -> None:
        self.request = request
        self.event = threading.Event()
        self.frame: Frame | None = None


_ANSWERS = {
    MsgType.HELLO: frozenset({MsgType.STATUS, MsgType.NAK}),
    MsgType.GET_STATUS: frozenset({MsgType.STATUS, MsgType.NAK}),
    MsgType.GET_ID: frozenset({MsgType.IDENT, MsgType.NAK}),
}
_ACK_OR_NAK = frozenset({MsgType.ACK, MsgType.NAK})


class SupervisorLink:
    """The supervisor MCU behind a serial port (injected, already open, with a read timeout)."""

    def __init__(
        self,
        port: SerialPort,
        *,
        on_tamper: Callable[[TamperReport], None] | None = None,
        response_timeout: float = DEFAULT_RESPONSE_TIMEOUT,
        link_timeout: float = DEFAULT_LINK_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._port = port
        self._on_tamper = on_tamper
        self._response_timeout = response_timeout
        self._link_timeout = link_timeout
        self._clock = clock
        self._decoder = FrameDecoder()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._acked = threading.Condition(self._lock)
        self._pending: dict[int, _Waiter] = {}
        self._seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_rx: float | None = None
        self._heartbeats_acked = 0
        self._status: McuStatus | None = None
        self._latched = False
        self._causes = TamperCause(0)
        self._tamper_seq: int | None = None
        self._port_failed = False

    # --- lifetime -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the reader thread (then call hello() to announce the agent)."""
        if self._thread is not None:
            return
        try:  # answers meant for an earlier driver must not match our first requests
            self._port.reset_input_buffer()
        except (OSError, ValueError) as err:
            raise SupervisorPortError("cannot use the supervisor MCU port") from err
        self._stop.clear()
        self._thread = threading.Thread(target=self._read_loop, name="supervisor-link", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 2.0) -> None:
        """Stop the reader thread; the caller closes the port."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            for waiter in self._pending.values():
                waiter.event.set()

    def __enter__(self) -> SupervisorLink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- requests -------------------------------------------------------------------------

    def hello(self) -> McuStatus:
        """Announce the agent; the MCU answers with its status and re-sends a latched tamper."""
        return self._status_from(self._request(MsgType.HELLO, hello_payload()))

    def send_heartbeat(self) -> None:
        """Tell the MCU the agent is alive; wait for its acknowledgement."""
        self._request(MsgType.HEARTBEAT)
        with self._acked:
            self._heartbeats_acked += 1
            self._acked.notify_all()

    def set_pattern(self, pattern: McuPattern | Enum | str) -> None:
        """Show an LED pattern: idle, busy, success, failure, deactivated or tamper.

        Accepts McuPattern, its name, or any Enum with such a value (hardware.gpio.Pattern).
        """
        value = pattern.value if isinstance(pattern, Enum) else pattern
        try:
            mcu_pattern = McuPattern(value)
        except ValueError:
            raise ValueError(f"unknown LED pattern {value!r}") from None
        self._request(MsgType.SET_PATTERN, pattern_payload(mcu_pattern))

    def buzzer(self, duration_ms: int) -> None:
        """Sound the buzzer for duration_ms (0..10000; 0 silences it)."""
        self._request(MsgType.BUZZER, buzzer_payload(duration_ms))

    def request_status(self) -> McuStatus:
        """Ask the MCU for its status."""
        return self._status_from(self._request(MsgType.GET_STATUS))

    def clear_tamper(self, key: bytes, counter: int | None = None) -> int:
        """Clear the tamper latch with the provisioning key; return the counter used.

        The counter must be above the MCU's last one (default: last + 1); the MAC also binds
        the current latch sequence, so a clear made for one tamper event clears no other.
        Raises TamperClearRefusedError if the MCU refuses.
        """
        status = self.request_status()
        if counter is None:
            counter = status.clear_counter + 1
        self.send_clear(clear_payload(key, counter, status.tamper_seq))
        return counter

    def send_clear(self, payload: bytes) -> None:
        """Send a CLEAR_TAMPER payload made elsewhere (messages.clear_payload)."""
        try:
            self._request(MsgType.CLEAR_TAMPER, payload)
        except SupervisorRefusedError as err:
            raise TamperClearRefusedError("MCU refused the tamper clear", err.reason) from None
        with self._lock:
            self._latched = False
            self._causes = TamperCause(0)

    def read_identity(self) -> McuIdentity:
        """Ask the MCU for its board's unique id (SupervisorRefusedError NO_ID if it has none)."""
        return parse_ident(self._request(MsgType.GET_ID).payload)

    def provision_key(self, key: bytes) -> None:
        """Set the 32-byte tamper-clear key; the MCU accepts this once in its life."""
        self._request(MsgType.SET_KEY, set_key_payload(key))

    # --- state ----------------------------------------------------------------------------

    @property
    def link_up(self) -> bool:
        """True if the MCU sent a good frame within the link timeout."""
        with self._lock:
            last = self._last_rx
        return last is not None and self._clock() - last < self._link_timeout

    @property
    def heartbeats_acked(self) -> int:
        """Heartbeats the MCU has acknowledged since this driver started."""
        with self._lock:
            return self._heartbeats_acked

    def wait_heartbeats_acked(self, count: int, timeout: float) -> bool:
        """Wait until count heartbeats in all have been acknowledged; False on timeout."""
        with self._acked:
            return self._acked.wait_for(lambda: self._heartbeats_acked >= count, timeout)

    def health(self) -> SupervisorHealth:
        """Link state, reset count and tamper latch as last known."""
        link_up = self.link_up
        with self._lock:
            last = self._last_rx
            status = self._status
            return SupervisorHealth(
                link_up=link_up,
                last_seen_s=None if last is None else max(0.0, self._clock() - last),
                reset_count=None if status is None else status.reset_count,
                tamper_latched=self._latched,
                tamper_causes=self._causes,
                tamper_seq=self._tamper_seq,
                frames_dropped=self._dropped_total(),
            )

    # --- internals ------------------------------------------------------------------------

    def _dropped_total(self) -> int:
        d = self._decoder.dropped
        return d.truncated + d.corrupt + d.unknown + d.malformed

    def _status_from(self, frame: Frame) -> McuStatus:
        status = parse_status(frame.payload)
        with self._lock:
            self._status = status
            self._latched = status.tamper_latched
            self._causes = status.tamper_causes
            self._tamper_seq = status.tamper_seq
        return status

    def _request(self, mtype: MsgType, payload: bytes = b"") -> Frame:
        waiter = _Waiter(mtype)
        with self._lock:
            if self._port_failed:
                raise SupervisorPortError("the serial port to the supervisor MCU failed")
            self._seq = self._seq % 255 + 1
            seq = self._seq
            self._pending[seq] = waiter
        try:
            self._write(encode_frame(mtype, seq, payload), mtype, seq)
            if not waiter.event.wait(self._response_timeout) or waiter.frame is None:
                if self._port_failed:
                    raise SupervisorPortError("the serial port to the supervisor MCU failed")
                raise SupervisorTimeoutError(f"supervisor MCU did not answer {mtype.name}")
        finally:
            with self._lock:
                self._pending.pop(seq, None)
        frame = waiter.frame
        if frame.type is MsgType.NAK:
            refused, reason = parse_nak(frame.payload)
            if refused != mtype:
                raise MalformedFrameError("NAK for another request", FrameFault.MALFORMED)
            raise SupervisorRefusedError(f"supervisor MCU refused {mtype.name}", reason)
        if frame.type is MsgType.ACK and parse_ack(frame.payload) != mtype:
            raise MalformedFrameError("ACK for another request", FrameFault.MALFORMED)
        return frame

    def _write(self, data: bytes, mtype: MsgType, seq: int) -> None:
        if traffic_enabled(_log):
            _log.log(TRAFFIC, "to MCU: %s seq %d, %d bytes", mtype.name, seq, len(data))
        try:
            with self._write_lock:
                self._port.write(data)
        except (OSError, ValueError) as err:  # SerialException is an OSError
            raise SupervisorPortError("cannot write to the supervisor MCU port") from err

    def _read_loop(self) -> None:
        last_byte = self._clock()
        while not self._stop.is_set():
            try:
                data = self._port.read(1)
                if data:
                    waiting = self._port.in_waiting
                    if waiting:
                        data += self._port.read(min(waiting, _READ_MAX))
            except (OSError, ValueError, TypeError, AttributeError) as err:
                if not self._stop.is_set():
                    _log.error("supervisor MCU port failed: %s", type(err).__name__)
                    with self._lock:
                        self._port_failed = True
                        for waiter in self._pending.values():
                            waiter.event.set()
                return
            now = self._clock()
            if not data:
                if self._decoder.pending() and now - last_byte >= FRAME_GAP:
                    self._decoder.expire()
                continue
            last_byte = now
            for frame in self._decoder.feed(data):
                self._dispatch(frame, now)

    def _dispatch(self, frame: Frame, now: float) -> None:
        if traffic_enabled(_log):
            _log.log(TRAFFIC, "from MCU: %s seq %d", frame.type.name, frame.seq)
        with self._lock:
            self._last_rx = now
        if frame.type is MsgType.TAMPER:
            self._tamper(frame)
            return
        with self._lock:
            waiter = self._pending.get(frame.seq)
            if waiter is None or frame.type not in _ANSWERS.get(waiter.request, _ACK_OR_NAK):
                _log.debug("unexpected %s seq %d from the MCU", frame.type.name, frame.seq)
                return
            waiter.frame = frame
            waiter.event.set()

    def _tamper(self, frame: Frame) -> None:
        try:
            report = parse_tamper(frame.payload)
        except MalformedFrameError:
            self._decoder.dropped.add(FrameFault.MALFORMED)
            return
        with self._lock:
            self._latched = True
            self._causes = report.causes
            self._tamper_seq = report.seq
        _log.warning("supervisor MCU reports tamper: %s (latch %d)", report.causes, report.seq)
        if self._on_tamper is not None:
            try:
                self._on_tamper(report)
            except Exception:
                _log.exception("tamper callback failed; the MCU will report again")
                return
        try:
            self._write(
                encode_frame(MsgType.TAMPER_ACK, 0, tamper_ack_payload(report.seq)),
                MsgType.TAMPER_ACK,
                0,
            )
        except SupervisorError as err:
            _log.warning("cannot acknowledge the tamper report: %s", err)
