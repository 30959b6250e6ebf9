"""Settings of the supervisor, read from config.json in flash; defaults for anything missing.

A value of the wrong type or out of range keeps its default and is listed in Config.errors.
Every limit is a small int on a 32-bit core, and every span of time fits ticks_diff, which on
the RP2040 measures less than 2**29 ms (half the 2**30 period of ticks_ms).
"""

import json

CONFIG_FILE = "config.json"
MAX_SPAN_MS = 0x1FFFFFFF  # the longest span ticks_diff measures on the RP2040 (about 6.2 days)

# name: (default, lowest, highest)
_LIMITS = {
    "heartbeat_ms": (5000, 50, 600000),  # N: the agent's heartbeat period
    "misses": (6, 1, 1000),  # M: missed heartbeats before the power cycle
    "relay_off_ms": (5000, 50, 600000),  # T: how long the Pi stays unpowered
    "boot_grace_ms": (180000, 50, 3600000),  # time a powered-up Pi has for its first heartbeat
    "backoff_max_ms": (3600000, 50, 86400000),  # cap of the doubling grace after failed boots
    "link_timeout_ms": (0, 0, 600000),  # silence that marks the link down; 0: 2 heartbeats
    "light_threshold": (20000, 0, 65535),  # ADC reading (read_u16) that means light
    "light_above": (1, 0, 1),  # 1: tamper above the threshold (light in a dark box)
    "enclosure_open_level": (1, 0, 1),  # switch pin level when the enclosure is open
    "relay_cut_level": (1, 0, 1),  # relay pin level that cuts the Pi's power
    "debounce_ms": (50, 0, 10000),  # a tamper input must hold this long
    "report_ms": (2000, 50, 600000),  # resend period of an unacknowledged tamper report
    "frame_gap_ms": (100, 10, 10000),  # silence that ends a half-received frame
    "wdt_ms": (5000, 1000, 8388),  # MCU hardware watchdog (RP2040 maximum 8388 ms)
    "poll_ms": (10, 1, 1000),  # main loop period
    "baudrate": (115200, 1200, 1000000),
}


class Config:
    """The supervisor's settings (milliseconds, ADC counts, pin levels)."""

    def __init__(self, values=None):
        self.heartbeat_ms = 5000
        self.misses = 6
        self.relay_off_ms = 5000
        self.boot_grace_ms = 180000
        self.backoff_max_ms = 3600000
        self.link_timeout_ms = 0
        self.light_threshold = 20000
        self.light_above = 1
        self.enclosure_open_level = 1
        self.relay_cut_level = 1
        self.debounce_ms = 50
        self.report_ms = 2000
        self.frame_gap_ms = 100
        self.wdt_ms = 5000
        self.poll_ms = 10
        self.baudrate = 115200
        self.errors = []
        if values:
            self.update(values)

    def update(self, values):
        """Apply a dict of settings; bad or unknown ones are listed in errors."""
        for name in values:
            value = _accepted(values[name], _LIMITS.get(name))
            if value is None:
                self.errors.append(name)
            else:
                setattr(self, name, value)
        if self.misses * self.heartbeat_ms > MAX_SPAN_MS:  # the watchdog could never measure it
            self.misses = _LIMITS["misses"][0]
            self.heartbeat_ms = _LIMITS["heartbeat_ms"][0]
            self.errors.append("heartbeat_ms")
            self.errors.append("misses")

    def link_timeout(self):
        """Silence after which the Pi link counts as down."""
        return self.link_timeout_ms or 2 * self.heartbeat_ms


def span_limits():
    """Every setting's (name, lowest, highest), sorted by name."""
    return sorted((name, _LIMITS[name][1], _LIMITS[name][2]) for name in _LIMITS)


def _accepted(value, limits):
    """value as an int within limits, or None. JSON true/false only for on/off settings.

    Bool first: on MicroPython a bool is not an int (isinstance(True, int) is False), on
    CPython it is one; neither may decide what the device accepts.
    """
    if limits is None:
        return None
    if value is True or value is False:
        return (1 if value else 0) if limits[2] == 1 else None
    if not isinstance(value, int) or not limits[1] <= value <= limits[2]:
        return None
    return value


def load_config(store):
    """The settings in the store's config.json, or the defaults."""
    data = store.read(CONFIG_FILE)
    if data is None:
        return Config()
    try:
        values = json.loads(data.decode())
    except (ValueError, UnicodeError):
        values = None
    if not isinstance(values, dict):
        config = Config()
        config.errors.append(CONFIG_FILE)
        return config
    return Config(values)
