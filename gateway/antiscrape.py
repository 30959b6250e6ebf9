"""Anti-scraping: refuse sequential NIKs, patterned runs and bursts, per institution.

The state lives in memory only and expires after the window. NIK-derived state is keyed by a
keyed BLAKE2s MAC with a random key made when the process starts, so nothing in it maps back to
a NIK:

- a *prefix bucket* per (institution, first 12 digits: region + birth date) holds the serials
  seen under that prefix. A run of consecutive serials of `sequential_run` or more is
  *sequential*; `pattern_run` serials in arrival order forming an arithmetic progression are a
  *pattern*; `prefix_limit` distinct serials under one prefix are a *prefix sweep*;
- a *date bucket* per (institution, region, birth month and year, serial) holds the birth days
  seen; `pattern_run` of them in arrival order forming an arithmetic progression are a
  *pattern* (a scan through birth dates);
- a *burst* is more than `burst_limit` look-ups of one institution, or `device_burst_limit` of
  one device, within `burst_window_s` (a sliding window).

Every look-up is recorded, refused or not, so a scraper that keeps going stays refused.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import deque
from dataclasses import dataclass, field

from gateway.clock import Clock
from gateway.config import AntiScrapeConfig

_MAX_ENTRIES = 64


@dataclass(slots=True)
class _Bucket:
    values: deque[tuple[float, int]] = field(default_factory=deque)
    counts: dict[int, int] = field(default_factory=dict)
    touched: float = 0.0

    def push(self, value: int, now: float) -> None:
        self.values.append((now, value))
        self.counts[value] = self.counts.get(value, 0) + 1
        if len(self.values) > _MAX_ENTRIES:
            self._drop()

    def expire(self, edge: float) -> None:
        values = self.values
        while values and values[0][0] <= edge:
            self._drop()

    def _drop(self) -> None:
        _, old = self.values.popleft()
        left = self.counts[old] - 1
        if left:
            self.counts[old] = left
        else:
            del self.counts[old]


class AntiScrape:
    """The detectors of one gateway process."""

    def __init__(self, cfg: AntiScrapeConfig, clock: Clock, key: bytes | None = None) -> None:
        self._cfg = cfg
        self._clock = clock
        self._key = key if key is not None else secrets.token_bytes(32)
        self._buckets: dict[bytes, _Bucket] = {}
        self._expiry: deque[tuple[float, bytes]] = deque()
        self._bursts: dict[str, deque[float]] = {}

    def check(self, institution: str, device: str, nik: str) -> str | None:
        """Record one look-up of a well-formed NIK; the rule it breaks, or None."""
        now = self._clock.monotonic()
        self._sweep(now)
        cfg = self._cfg
        serial = int(nik[12:16])
        prefix = self._bucket(b"p", institution, nik[:12], now)
        prefix_rule = self._prefix_rule(prefix, serial, now)
        day = int(nik[6:8])
        day = day - 40 if day > 40 else day
        dates = self._bucket(b"d", institution, nik[:6] + nik[8:16], now)
        dates.push(day, now)
        rule = prefix_rule
        if rule is None and cfg.pattern_run and _progression(dates.values, cfg.pattern_run):
            rule = "pattern"
        burst = cfg.burst_limit > 0 and self._burst(f"i:{institution}", cfg.burst_limit, now)
        device_burst = cfg.device_burst_limit > 0 and self._burst(
            f"d:{device}", cfg.device_burst_limit, now
        )
        if rule is None and burst:
            rule = "burst"
        if rule is None and device_burst:
            rule = "device_burst"
        return rule

    def _prefix_rule(self, bucket: _Bucket, serial: int, now: float) -> str | None:
        cfg = self._cfg
        bucket.push(serial, now)
        seen = bucket.counts
        if len(seen) == 1:
            return None
        if cfg.sequential_run and _run_length(seen, serial) >= cfg.sequential_run:
            return "sequential"
        if cfg.pattern_run and _progression(bucket.values, cfg.pattern_run):
            return "pattern"
        if cfg.prefix_limit and len(seen) >= cfg.prefix_limit:
            return "prefix_sweep"
        return None

    def _bucket(self, kind: bytes, institution: str, part: str, now: float) -> _Bucket:
        key = hashlib.blake2s(
            kind + institution.encode() + b"\x00" + part.encode(), key=self._key
        ).digest()
        bucket = self._buckets.get(key)
        window = self._cfg.window_s
        if bucket is None:
            bucket = self._buckets[key] = _Bucket()
            self._expiry.append((now + window, key))
        else:
            bucket.expire(now - window)
        bucket.touched = now
        return bucket

    def _burst(self, key: str, limit: int, now: float) -> bool:
        if not limit:
            return False
        times = self._bursts.get(key)
        if times is None:
            times = self._bursts[key] = deque()
        edge = now - self._cfg.burst_window_s
        while times and times[0] <= edge:
            times.popleft()
        times.append(now)
        if len(times) > 4 * limit:
            times.popleft()
        return len(times) > limit

    def _sweep(self, now: float) -> None:
        expiry = self._expiry
        window = self._cfg.window_s
        while expiry and expiry[0][0] <= now:
            _, key = expiry.popleft()
            bucket = self._buckets.get(key)
            if bucket is None:
                continue
            if bucket.touched <= now - window:
                del self._buckets[key]
            else:
                expiry.append((bucket.touched + window, key))
        if len(self._bursts) > 10_000:
            edge = now - self._cfg.burst_window_s
            self._bursts = {k: t for k, t in self._bursts.items() if t and t[-1] > edge}

    def __len__(self) -> int:
        return len(self._buckets)


def _run_length(seen: dict[int, int], value: int) -> int:
    """Length of the run of consecutive integers in `seen` that contains `value`."""
    low = value
    while low - 1 in seen:
        low -= 1
    high = value
    while high + 1 in seen:
        high += 1
    return high - low + 1


def _progression(values: deque[tuple[float, int]], run: int) -> bool:
    """The last `run` values, in arrival order, step by the same nonzero amount."""
    if len(values) < run:
        return False
    step = values[-1][1] - values[-2][1]
    if step == 0:
        return False
    return all(values[-i][1] - values[-i - 1][1] == step for i in range(2, run))
