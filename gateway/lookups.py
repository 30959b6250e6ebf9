"""Which device looked up which NIK, lately: the gate of data balikan.

A return (POST /v1/returns) is relayed only for a NIK that the same device looked up, with data
returned, within the session window (`returns.window_s`). The memory holds a keyed BLAKE2s MAC
of (device, NIK) under a random key made when the process starts, and the time of the look-up:
nothing in it maps back to a NIK, and it is never written anywhere. An accepted return uses the
look-up up, so one look-up carries at most one return. The memory is bounded
(`returns.max_entries`, oldest dropped first) whatever the devices send.

Like anti-scraping, each gateway replica remembers only the look-ups it answered itself; a kiosk
keeps one connection to one replica for its session, so its return lands where its look-up did.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict

from common.clock import Clock


class LookupMemory:
    """Recent look-ups with data returned, by keyed MAC of (device, NIK), in memory only."""

    def __init__(
        self, clock: Clock, window_s: float, max_entries: int, key: bytes | None = None
    ) -> None:
        self._clock = clock
        self._window = window_s
        self._max = max_entries
        self._key = key if key is not None else secrets.token_bytes(32)
        self._seen: OrderedDict[bytes, float] = OrderedDict()  # MAC → when, oldest first

    def remember(self, device: str, nik: str) -> None:
        """`device` looked `nik` up and got data back (now)."""
        now = self._clock.monotonic()
        self._sweep(now)
        mac = self._mac(device, nik)
        self._seen.pop(mac, None)
        self._seen[mac] = now
        while len(self._seen) > self._max:
            self._seen.popitem(last=False)

    def looked_up(self, device: str, nik: str) -> bool:
        """True if `device` looked `nik` up within the window."""
        now = self._clock.monotonic()
        self._sweep(now)
        return self._mac(device, nik) in self._seen

    def use(self, device: str, nik: str) -> None:
        """A return for this look-up was accepted: it carries no other."""
        self._seen.pop(self._mac(device, nik), None)

    def __len__(self) -> int:
        return len(self._seen)

    def _mac(self, device: str, nik: str) -> bytes:
        return hashlib.blake2s(
            device.encode() + b"\x00" + nik.encode(), key=self._key, digest_size=16
        ).digest()

    def _sweep(self, now: float) -> None:
        edge = now - self._window
        seen = self._seen
        while seen:
            mac, when = next(iter(seen.items()))
            if when > edge:
                break
            del seen[mac]
