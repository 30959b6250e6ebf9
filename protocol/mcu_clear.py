"""The supervisor MCU's authenticated tamper clear, computed where the key is kept (pure).

The same computation as hardware.supervisor.messages.clear_payload (the Pi's driver; a test
holds the two equal), here without the driver's package so that the fleet service, which keeps
the escrowed key, can compute a clear: HMAC-SHA256(key, label || counter u32 || tamper_seq u32),
payload = counter u32 || MAC. See docs/supervisor-mcu.md ("Clear authentication").
"""

from __future__ import annotations

import hashlib
import hmac
import struct

CLEAR_LABEL = b"PBK-MCU-CLEAR-1"
KEY_SIZE = 32


def clear_payload(key: bytes, counter: int, tamper_seq: int) -> bytes:
    """CLEAR_TAMPER's payload for one latch (`tamper_seq`) and a counter above the last one."""
    if len(key) != KEY_SIZE:
        raise ValueError(f"the clear key is {KEY_SIZE} bytes")
    if not 0 <= counter < 2**32 or not 0 <= tamper_seq < 2**32:
        raise ValueError("counter and tamper_seq are 32-bit unsigned")
    mac = hmac.new(key, CLEAR_LABEL + struct.pack(">II", counter, tamper_seq), hashlib.sha256)
    return struct.pack(">I", counter) + mac.digest()
