"""The supervisor's main logic: Pi link, watchdog of the Pi, tamper latch, LEDs and buzzer.

Everything it touches is passed in (UART, pins, ADC, clock, hardware watchdog, flash store), so
the same code runs on the RP2040 (main.py builds the machine objects) and under CPython with
fakes or the stubs. The clock is anything with MicroPython's ticks_ms, ticks_add, ticks_diff
and sleep_ms (the utime module on the device).
"""

from micropython import const

from firmware import link
from firmware import messages as msg
from firmware.auth import clear_mac, equal
from firmware.config import load_config
from firmware.indicators import Indicators
from firmware.state import KEY_FILE, load_state, save_state
from firmware.tamper import TamperMonitor
from firmware.watchdog import POWER_CUT, POWER_RESTORED, PiWatchdog

_READ_CHUNK = const(256)


class Supervisor:
    """One MCU's worth of supervision; call poll() every few milliseconds (or run())."""

    def __init__(
        self,
        uart,
        clock,
        relay,
        enclosure,
        light,
        leds,
        buzzer,
        store,
        wdt=None,
        config=None,
        on_event=None,
        board_id=None,
    ):
        self.uart = uart
        self.clock = clock
        self.store = store
        self.wdt = wdt
        self.on_event = on_event
        ok = board_id is not None and 1 <= len(board_id) <= msg.MAX_ID_SIZE
        self.board_id = bytes(board_id) if ok else None
        self.config = config if config is not None else load_config(store)
        self.state = load_state(store)
        key = store.read(KEY_FILE)
        self.key = key if key is not None and len(key) == msg.KEY_SIZE else None
        self.decoder = link.Decoder(link.PI_TYPES)
        self.malformed = 0
        self.errors = 0
        self.pattern = msg.IDLE
        self.link_up = False
        self.watchdog = PiWatchdog(relay, clock, self.config)
        self.tamper = TamperMonitor(enclosure, light, clock, self.config)
        self.indicators = Indicators(leds, buzzer, clock)
        now = clock.ticks_ms()
        self._last_rx = now
        self._last_byte = now
        self._last_poll = now
        self._uptime_s = 0
        self._uptime_ms = 0
        self._seq = 0
        self._report_due = False
        self._report_acked = False
        self._last_report = now
        if self.config.errors:
            self._emit("config_error", len(self.config.errors))
        if self.state.latched:
            self._emit("latched", self.state.causes)
        self._emit("boot", self.state.reset_count)  # last: whoever waits for it sees the rest

    # --- main loop ------------------------------------------------------------------------

    def run(self, stop=None):
        """Poll every poll_ms until stop() is true (forever on the device)."""
        while stop is None or not stop():
            self.poll()
            self.clock.sleep_ms(self.config.poll_ms)

    def poll(self):
        """One pass of the main loop; never raises, always feeds the hardware watchdog."""
        try:
            self._poll(self.clock.ticks_ms())
        except Exception:  # a bug must not stop the watchdog of the Pi: count it, go on
            self.errors += 1
            self._emit("error", self.errors)
        if self.wdt is not None:
            self.wdt.feed()

    def uptime_s(self):
        """Seconds since this supervisor started."""
        return self._uptime_s

    def display_pattern(self):
        """The LED pattern shown now: tamper wins, a silent Pi shows failure."""
        if self.state.latched:
            return msg.TAMPERED
        if not self.link_up:
            return msg.FAILURE
        return self.pattern

    def _poll(self, now):
        delta = self.clock.ticks_diff(now, self._last_poll)
        self._last_poll = now
        if delta > 0:
            self._uptime_ms += delta
            if self._uptime_ms >= 1000:
                self._uptime_s += self._uptime_ms // 1000
                self._uptime_ms %= 1000
        self._receive(now)
        if self.link_up and (
            self.clock.ticks_diff(now, self._last_rx) >= self.config.link_timeout()
        ):
            self._set_link(False)
        causes = self.tamper.sample(now)
        if causes:
            self._latch(causes)
        result = self.watchdog.poll(now)
        if result == POWER_CUT:
            self.state.reset_count += 1
            self._save()
            self._set_link(False)
            self._emit("power_cut", self.state.reset_count)
        elif result == POWER_RESTORED:
            self._emit("power_restored", self.state.reset_count)
        self._report(now)
        self.indicators.update(now, self.display_pattern())

    # --- link -----------------------------------------------------------------------------

    def _receive(self, now):
        count = self.uart.any()
        if count:
            data = self.uart.read(min(count, _READ_CHUNK))
            if data:
                self._last_byte = now
                for frame in self.decoder.feed(data):
                    self._handle(now, frame[0], frame[1], frame[2])
        elif self.decoder.pending() and (
            self.clock.ticks_diff(now, self._last_byte) >= self.config.frame_gap_ms
        ):
            self.decoder.expire()

    def _send(self, mtype, seq, payload=b""):
        self.uart.write(link.encode(mtype, seq, payload))

    def _next_seq(self):
        self._seq = (self._seq + 1) & 0xFF
        return self._seq

    def _set_link(self, up):
        if up == self.link_up:
            return
        self.link_up = up
        if up:
            self._report_due = True
            self._report_acked = False
            self._emit("link_up", 0)
        else:
            self._emit("link_down", 0)

    def _handle(self, now, mtype, seq, payload):
        self._last_rx = now
        self._set_link(True)
        if mtype == link.HEARTBEAT:
            if payload:
                self._refuse(mtype, seq, msg.MALFORMED)
                return
            self.watchdog.heartbeat(now)
            self._send(link.ACK, seq, msg.ack_payload(mtype))
        elif mtype == link.HELLO:
            if msg.read_u8(payload) is None:
                self._refuse(mtype, seq, msg.MALFORMED)
                return
            self._send_status(seq)
            self._report_due = True
            self._report_acked = False
        elif mtype == link.GET_STATUS:
            if payload:
                self._refuse(mtype, seq, msg.MALFORMED)
                return
            self._send_status(seq)
        elif mtype == link.SET_PATTERN:
            pattern = msg.read_u8(payload)
            if pattern is None or pattern >= msg.PATTERN_COUNT:
                self._refuse(mtype, seq, msg.MALFORMED)
                return
            self.pattern = pattern
            self._send(link.ACK, seq, msg.ack_payload(mtype))
        elif mtype == link.BUZZER:
            duration = msg.read_u16(payload)
            if duration is None or duration > msg.MAX_BUZZ_MS:
                self._refuse(mtype, seq, msg.MALFORMED)
                return
            self.indicators.buzz(now, duration)
            self._send(link.ACK, seq, msg.ack_payload(mtype))
        elif mtype == link.CLEAR_TAMPER:
            self._clear(seq, payload)
        elif mtype == link.SET_KEY:
            self._set_key(seq, payload)
        elif mtype == link.GET_ID:
            if payload:
                self._refuse(mtype, seq, msg.MALFORMED)
            elif self.board_id is None:
                self._refuse(mtype, seq, msg.NO_ID)
            else:
                self._send(link.IDENT, seq, msg.ident_payload(self.board_id))
        elif mtype == link.TAMPER_ACK:
            acked = msg.read_u32(payload)
            if acked is None:
                self._refuse(mtype, seq, msg.MALFORMED)
            elif acked == self.state.tamper_seq:
                self._report_acked = True

    def _refuse(self, mtype, seq, reason):
        if reason == msg.MALFORMED:
            self.malformed += 1
        self._send(link.NAK, seq, msg.nak_payload(mtype, reason))

    def _send_status(self, seq):
        flags = 0
        if self.state.latched:
            flags |= msg.FLAG_LATCHED
        if self.tamper.raw & msg.CAUSE_ENCLOSURE:
            flags |= msg.FLAG_ENCLOSURE_OPEN
        if self.tamper.raw & msg.CAUSE_LIGHT:
            flags |= msg.FLAG_LIGHT
        if self.key is not None:
            flags |= msg.FLAG_KEY_SET
        decoder = self.decoder
        payload = msg.status_payload(
            flags,
            self.state.causes,
            self.display_pattern(),
            self.state.reset_count,
            self.state.tamper_seq,
            self.state.clear_counter,
            self._uptime_s,
            (decoder.truncated, decoder.corrupt, decoder.unknown, self.malformed),
        )
        self._send(link.STATUS, seq, payload)

    # --- tamper latch ---------------------------------------------------------------------

    def _latch(self, causes):
        state = self.state
        if state.latched and not causes & ~state.causes:
            return
        if not state.latched:
            state.latched = True
            state.tamper_seq = (state.tamper_seq + 1) & 0xFFFFFFFF or 1
        state.causes |= causes
        self._save()
        self._report_due = True
        self._report_acked = False
        self._emit("tamper", state.causes)

    def _report(self, now):
        if not (self.state.latched and self.link_up):
            return
        if not self._report_due and (
            self._report_acked
            or self.clock.ticks_diff(now, self._last_report) < self.config.report_ms
        ):
            return
        self._report_due = False
        self._last_report = now
        payload = msg.tamper_payload(self.state.causes, self.state.tamper_seq)
        self._send(link.TAMPER, self._next_seq(), payload)

    def _clear(self, seq, payload):
        parsed = msg.read_clear(payload)
        if parsed is None:
            self._refuse(link.CLEAR_TAMPER, seq, msg.MALFORMED)
            return
        counter, mac = parsed
        state = self.state
        if self.key is None:
            reason = msg.NO_KEY
        elif not equal(mac, clear_mac(self.key, counter, state.tamper_seq)):
            reason = msg.AUTH_FAILED
        elif counter <= state.clear_counter:
            reason = msg.REPLAYED
        else:
            reason = 0
        if reason:
            self._emit("clear_refused", reason)
            self._refuse(link.CLEAR_TAMPER, seq, reason)
            return
        before = (state.latched, state.causes, state.clear_counter)
        state.latched = False
        state.causes = 0
        state.clear_counter = counter
        if not self._save():
            state.latched, state.causes, state.clear_counter = before
            self._refuse(link.CLEAR_TAMPER, seq, msg.STORAGE_FAILED)
            return
        self._emit("tamper_cleared", counter)
        self._send(link.ACK, seq, msg.ack_payload(link.CLEAR_TAMPER))

    def _set_key(self, seq, payload):
        if len(payload) != msg.KEY_SIZE:
            self._refuse(link.SET_KEY, seq, msg.MALFORMED)
            return
        if self.key is not None:
            self._refuse(link.SET_KEY, seq, msg.KEY_ALREADY_SET)
            return
        try:
            self.store.write(KEY_FILE, payload)
        except OSError:
            self._refuse(link.SET_KEY, seq, msg.STORAGE_FAILED)
            return
        self.key = bytes(payload)
        self._emit("key_set", 0)
        self._send(link.ACK, seq, msg.ack_payload(link.SET_KEY))

    # --- helpers --------------------------------------------------------------------------

    def _save(self):
        try:
            save_state(self.store, self.state)
        except OSError:
            self._emit("storage_error", 0)
            return False
        return True

    def _emit(self, name, value):
        if self.on_event is None:
            return
        try:  # noqa: SIM105 (MicroPython has no contextlib)
            self.on_event(name, value)
        except Exception:  # noqa: S110 (a broken event sink must not stop the loop)
            pass
