"""Watchdog of the Pi: M missed heartbeats (period N) cut its power for T, then restore it.

States: RUNNING (heartbeats flow), OFF (relay cut), BOOTING (powered, waiting for the first
heartbeat). A Pi that stays silent through its boot grace is cycled again, with the grace
doubled each time (up to backoff_max_ms) so that a Pi that cannot boot is not hammered.
"""

from micropython import const

RUNNING = const(0)
OFF = const(1)
BOOTING = const(2)

# poll() results
NOTHING = const(0)
POWER_CUT = const(1)
POWER_RESTORED = const(2)


class PiWatchdog:
    """Drives the Pi's power relay (a Pin) from heartbeats and the clock."""

    def __init__(self, relay, clock, config):
        self.relay = relay
        self.clock = clock
        self.config = config
        self.failed_boots = 0
        self._power(True)
        self.state = BOOTING
        self.since = clock.ticks_ms()

    def heartbeat(self, now):
        """The agent is alive."""
        if self.state == OFF:
            return
        self.state = RUNNING
        self.since = now
        self.failed_boots = 0

    def grace_ms(self):
        """How long a freshly powered Pi may stay silent."""
        grace = self.config.boot_grace_ms
        for _ in range(min(self.failed_boots, 24)):
            grace *= 2
            if grace >= self.config.backoff_max_ms:
                return max(self.config.backoff_max_ms, self.config.boot_grace_ms)
        return grace

    def poll(self, now):
        """Advance the state machine; return NOTHING, POWER_CUT or POWER_RESTORED."""
        elapsed = self.clock.ticks_diff(now, self.since)
        if self.state == RUNNING:
            if elapsed >= self.config.misses * self.config.heartbeat_ms:
                return self._cut(now)
        elif self.state == BOOTING:
            if elapsed >= self.grace_ms():
                self.failed_boots += 1
                return self._cut(now)
        elif elapsed >= self.config.relay_off_ms:
            self._power(True)
            self.state = BOOTING
            self.since = now
            return POWER_RESTORED
        return NOTHING

    def powered(self):
        """True unless the relay is cutting the Pi's power."""
        return self.state != OFF

    def _cut(self, now):
        self._power(False)
        self.state = OFF
        self.since = now
        return POWER_CUT

    def _power(self, on):
        cut = self.config.relay_cut_level
        self.relay.value(1 - cut if on else cut)
