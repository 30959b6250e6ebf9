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
from collections import OrderedDict, deque
from collections.abc import Sequence

from common.clock import Clock
from gateway.config import AntiScrapeConfig

_MAX_ENTRIES = 64


class AntiScrape:
    """The detectors of one gateway process."""

    def __init__(self, cfg: AntiScrapeConfig, clock: Clock, key: bytes | None = None) -> None:
        self._cfg = cfg
        self._clock = clock
        self._key = key if key is not None else secrets.token_bytes(32)
        # MAC → bucket, least recently touched first. A bucket is one flat tuple of numbers:
        # (time₁, value₁, time₂, value₂, …), oldest entry first, replaced on each look-up. The
        # garbage collector stops tracking a tuple of numbers once it has seen it, so the buckets
        # (two per new NIK, each living the whole window) cost it nothing after that.
        self._buckets: OrderedDict[bytes, tuple[float, ...]] = OrderedDict()
        self._bursts: dict[str, deque[float]] = {}

    def check(self, institution: str, device: str, nik: str) -> str | None:
        """Record one look-up of a well-formed NIK; the rule it breaks, or None."""
        now = self._clock.monotonic()
        self._sweep(now)
        cfg = self._cfg
        serials = self._record(b"p", institution, nik[:12], int(nik[12:16]), now)
        rule = self._prefix_rule(serials[1::2]) if len(serials) > 2 else None
        day = int(nik[6:8])
        day = day - 40 if day > 40 else day
        days = self._record(b"d", institution, nik[:6] + nik[8:16], day, now)
        run = cfg.pattern_run
        if rule is None and run and len(days) >= 2 * run and _progression(days[1::2], run):
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

    def _prefix_rule(self, serials: tuple[float, ...]) -> str | None:
        cfg = self._cfg
        seen = set(serials)
        if len(seen) == 1:
            return None
        if cfg.sequential_run and _run_length(seen, serials[-1]) >= cfg.sequential_run:
            return "sequential"
        if cfg.pattern_run and _progression(serials, cfg.pattern_run):
            return "pattern"
        if cfg.prefix_limit and len(seen) >= cfg.prefix_limit:
            return "prefix_sweep"
        return None

    def _record(
        self, kind: bytes, institution: str, part: str, value: int, now: float
    ) -> tuple[float, ...]:
        """Add (now, value) to the bucket of `part`, dropping entries older than the window."""
        key = hashlib.blake2s(
            kind + institution.encode() + b"\x00" + part.encode(), key=self._key
        ).digest()
        buckets = self._buckets
        bucket = buckets.pop(key, None)
        if bucket is None:
            bucket = buckets[key] = (now, value)
            return bucket
        edge = now - self._cfg.window_s
        end = len(bucket)
        first = 0
        while first < end and bucket[first] <= edge:
            first += 2
        first = max(first, end - 2 * (_MAX_ENTRIES - 1))
        bucket = buckets[key] = (*bucket[first:], now, value)
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
        buckets = self._buckets
        edge = now - self._cfg.window_s
        while buckets:
            key = next(iter(buckets))
            if buckets[key][-2] > edge:  # its last look-up
                break
            del buckets[key]
        if len(self._bursts) > 10_000:
            edge = now - self._cfg.burst_window_s
            self._bursts = {k: t for k, t in self._bursts.items() if t and t[-1] > edge}

    def __len__(self) -> int:
        return len(self._buckets)


def _run_length(seen: set[float], value: float) -> int:
    """Length of the run of consecutive integers in `seen` that contains `value`."""
    low = value
    while low - 1 in seen:
        low -= 1
    high = value
    while high + 1 in seen:
        high += 1
    return int(high - low) + 1


def _progression(values: Sequence[float], run: int) -> bool:
    """The last `run` values, in arrival order, step by the same nonzero amount."""
    if len(values) < run:
        return False
    step = values[-1] - values[-2]
    if step == 0:
        return False
    return all(values[-i] - values[-i - 1] == step for i in range(2, run))
