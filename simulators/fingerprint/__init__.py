"""A simulated R30x/AS608 fingerprint module on a real pty.

The simulator owns the master side of a pseudo-terminal and speaks the module's packet protocol
there from its own thread (`pty_server`); our real driver opens `port_path` (the slave side) with
pyserial, as it would open /dev/serial0 on a kiosk. What the module does with each packet, and
what lies on its sensor, is `module`. Tests and the kiosk-sim control surface script the finger
from other threads: `place()`, `place_other()`, `poor_image()`, `lift()`, `set_unresponsive()`,
`send_raw_next()`.
"""

from __future__ import annotations

from simulators.fingerprint.pty_server import FingerprintSim, SimStats, wire_time

__all__ = ["FingerprintSim", "SimStats", "wire_time"]
