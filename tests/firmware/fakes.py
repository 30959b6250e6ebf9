"""Fakes of the MCU's hardware for firmware tests: plain classes that run under CPython and
MicroPython alike (no CPython-only imports)."""

from firmware import link
from firmware.config import Config
from firmware.store import FileStore
from firmware.supervisor import Supervisor

TICKS_PERIOD = 1 << 30
_TICKS_MAX = TICKS_PERIOD - 1
_TICKS_HALF = TICKS_PERIOD // 2


class FakeClock:
    """A MicroPython-style tick clock that only moves when a test advances it."""

    def __init__(self, start=0):
        self.now = start & _TICKS_MAX

    def ticks_ms(self):
        return self.now

    def ticks_add(self, ticks, delta):
        return (ticks + delta) & _TICKS_MAX

    def ticks_diff(self, end, start):
        return ((end - start + _TICKS_HALF) & _TICKS_MAX) - _TICKS_HALF

    def sleep_ms(self, ms):
        self.advance(ms)

    def advance(self, ms):
        self.now = (self.now + ms) & _TICKS_MAX


class FakePin:
    """A pin: tests set inputs with level, outputs keep a history of (ticks, level)."""

    def __init__(self, level=0, clock=None):
        self.level = level
        self.clock = clock
        self.history = []

    def value(self, level=None):
        if level is None:
            return self.level
        self.level = level
        self.history.append((self.clock.ticks_ms() if self.clock else 0, level))
        return None


class FakeAdc:
    def __init__(self, reading=0):
        self.reading = reading

    def read_u16(self):
        return self.reading


class FakeUart:
    """Bytes the test injects are read by the firmware; what it writes collects in tx."""

    def __init__(self):
        self.rx = bytearray()
        self.tx = bytearray()

    def inject(self, data):
        self.rx.extend(data)

    def any(self):
        return len(self.rx)

    def read(self, size=None):
        if not self.rx:
            return None
        if size is None:
            size = len(self.rx)
        data = bytes(self.rx[:size])
        self.rx = self.rx[size:]
        return data

    def write(self, data):
        self.tx.extend(data)
        return len(data)


class FakeWdt:
    def __init__(self):
        self.feeds = 0

    def feed(self):
        self.feeds += 1


def quick_config(**values):
    """Short timings so that tests advance seconds, not minutes."""
    settings = {
        "heartbeat_ms": 1000,
        "misses": 3,
        "relay_off_ms": 2000,
        "boot_grace_ms": 10000,
        "backoff_max_ms": 40000,
        "debounce_ms": 50,
        "report_ms": 500,
    }
    for name in values:
        settings[name] = values[name]
    config = Config(settings)
    assert not config.errors, config.errors
    return config


class Rig:
    """A supervisor wired to fakes; the enclosure is closed and the sensor dark."""

    def __init__(self, config=None, root="", start_ms=0, store=None, board_id=None):
        self.clock = FakeClock(start_ms)
        self.uart = FakeUart()
        self.relay = FakePin(0, self.clock)
        self.enclosure = FakePin(0)
        self.light = FakeAdc(1000)
        self.leds = [FakePin(0, self.clock), FakePin(0, self.clock)]
        self.buzzer = FakePin(0, self.clock)
        self.wdt = FakeWdt()
        self.store = store if store is not None else FileStore(root)
        self.events = []
        self.config = config if config is not None else quick_config()
        self.replies = link.Decoder(link.MCU_TYPES)
        self.seq = 0
        self.sup = Supervisor(
            uart=self.uart,
            clock=self.clock,
            relay=self.relay,
            enclosure=self.enclosure,
            light=self.light,
            leds=self.leds,
            buzzer=self.buzzer,
            store=self.store,
            wdt=self.wdt,
            config=self.config,
            on_event=self._event,
            board_id=board_id,
        )

    def _event(self, name, value):
        self.events.append((name, value))

    def event_names(self):
        return [event[0] for event in self.events]

    def step(self, ms=10):
        """Let ms pass, then run one pass of the loop."""
        self.clock.advance(ms)
        self.sup.poll()

    def run_for(self, ms, step=10):
        for _ in range(ms // step):
            self.step(step)

    def send(self, mtype, payload=b"", seq=None):
        """Put a frame from the Pi on the wire; return its seq."""
        if seq is None:
            self.seq = (self.seq + 1) & 0xFF
            seq = self.seq
        self.uart.inject(link.encode(mtype, seq, payload))
        return seq

    def exchange(self, mtype, payload=b""):
        """Send a frame, run one pass, return the frames the MCU wrote."""
        self.send(mtype, payload)
        self.step(0)
        return self.received()

    def received(self):
        """The frames the MCU wrote since the last call, as (type, seq, payload)."""
        frames = self.replies.feed(bytes(self.uart.tx))
        self.uart.tx = bytearray()
        return frames

    def heartbeat_every(self, period_ms, total_ms, step=10):
        """Send a heartbeat every period_ms for total_ms."""
        elapsed = 0
        while elapsed < total_ms:
            if elapsed % period_ms == 0:
                self.send(link.HEARTBEAT)
            self.step(step)
            elapsed += step

    def power_cuts(self):
        """How many times the relay was driven to the level that cuts the Pi's power."""
        cut = self.config.relay_cut_level
        return len([1 for _, level in self.relay.history if level == cut])

    def power_restores(self):
        cut = self.config.relay_cut_level
        return len([1 for _, level in self.relay.history[1:] if level != cut])


class MemoryStore:
    """A flash store in RAM (same interface as firmware.store.FileStore)."""

    def __init__(self):
        self.files = {}

    def read(self, name):
        return self.files.get(name)

    def write(self, name, data):
        self.files[name] = bytes(data)
