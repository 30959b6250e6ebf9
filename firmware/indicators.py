"""Status LEDs (green, red) played as timed patterns, and the buzzer."""

from firmware.messages import (
    BUSY,
    DEACTIVATED,
    FAILURE,
    IDLE,
    MAX_BUZZ_MS,
    SUCCESS,
    TAMPERED,
)

_GREEN = 1
_RED = 2

# Each pattern is a cycle of (LED mask, milliseconds).
PATTERNS = {
    IDLE: ((_GREEN, 200), (0, 1800)),
    BUSY: ((_GREEN, 150), (0, 150)),
    SUCCESS: ((_GREEN, 1000),),
    FAILURE: ((_RED, 1000),),
    DEACTIVATED: ((_RED, 200), (0, 1800)),
    TAMPERED: ((_RED, 100), (0, 100)),
}


def pattern_mask(pattern, elapsed_ms):
    """The LED mask of pattern, elapsed_ms after it started."""
    steps = PATTERNS[pattern]
    period = 0
    for step in steps:
        period += step[1]
    phase = elapsed_ms % period
    for step in steps:
        if phase < step[1]:
            return step[0]
        phase -= step[1]
    return 0


class Indicators:
    """Plays one pattern on the LED pins (green, red) and times the buzzer pin."""

    def __init__(self, leds, buzzer, clock):
        self.leds = leds
        self.buzzer = buzzer
        self.clock = clock
        self.shown = None
        self._started = clock.ticks_ms()
        self._mask = None
        self._buzz_until = None
        buzzer.value(0)

    def buzz(self, now, ms):
        """Sound the buzzer for ms (0 silences it)."""
        ms = min(ms, MAX_BUZZ_MS)
        if ms <= 0:
            self._buzz_until = None
            self.buzzer.value(0)
            return
        self._buzz_until = self.clock.ticks_add(now, ms)
        self.buzzer.value(1)

    def update(self, now, pattern):
        """Show pattern (restarting its cycle if it changed) and end a finished buzz."""
        if pattern != self.shown:
            self.shown = pattern
            self._started = now
        elapsed = self.clock.ticks_diff(now, self._started)
        if elapsed > 60000:  # keep the age bounded; every period divides 60 s
            self._started = self.clock.ticks_add(now, -(elapsed % 60000))
            elapsed %= 60000
        mask = pattern_mask(pattern, elapsed)
        if mask != self._mask:
            self._mask = mask
            for i in range(len(self.leds)):
                self.leds[i].value(1 if mask & (1 << i) else 0)
        if self._buzz_until is not None and self.clock.ticks_diff(now, self._buzz_until) >= 0:
            self._buzz_until = None
            self.buzzer.value(0)
