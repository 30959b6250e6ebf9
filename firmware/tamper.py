"""Tamper inputs: the enclosure switch and the light sensor, each debounced."""

from firmware.messages import CAUSE_ENCLOSURE, CAUSE_LIGHT


class _Debounce:
    """True once a condition has held for hold_ms without a break."""

    def __init__(self, clock, hold_ms):
        self.clock = clock
        self.hold_ms = hold_ms
        self.since = None

    def update(self, now, raw):
        if not raw:
            self.since = None
            return False
        if self.since is None:
            self.since = now
        if self.clock.ticks_diff(now, self.since) >= self.hold_ms:
            self.since = self.clock.ticks_add(now, -self.hold_ms)  # keep the age bounded
            return True
        return False


class TamperMonitor:
    """Reads the switch (a Pin) and the light sensor (an ADC) and reports tamper causes."""

    def __init__(self, switch, light, clock, config):
        self.switch = switch
        self.light = light
        self.config = config
        self.raw = 0
        self._enclosure = _Debounce(clock, config.debounce_ms)
        self._light = _Debounce(clock, config.debounce_ms)

    def sample(self, now):
        """Read the inputs; return the causes that have held long enough (bits)."""
        open_now = self.switch.value() == self.config.enclosure_open_level
        level = self.light.read_u16()
        if self.config.light_above:
            light_now = level > self.config.light_threshold
        else:
            light_now = level < self.config.light_threshold
        self.raw = (CAUSE_ENCLOSURE if open_now else 0) | (CAUSE_LIGHT if light_now else 0)
        causes = 0
        if self._enclosure.update(now, open_now):
            causes |= CAUSE_ENCLOSURE
        if self._light.update(now, light_now):
            causes |= CAUSE_LIGHT
        return causes
