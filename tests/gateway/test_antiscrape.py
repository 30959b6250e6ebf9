"""Anti-scraping: sequential NIKs, patterned runs, prefix sweeps, bursts, expiry, MAC keys."""

from __future__ import annotations

import gc
import logging
from typing import Any

import pytest

from gateway.antiscrape import AntiScrape
from gateway.config import AntiScrapeConfig
from simulators.dukcapil import RunningDukcapilSim
from simulators.personas import persona
from tests.clock import FakeClock
from tests.gateway.conftest import Certs, MakeClient, MakeGateway

PREFIX = "330401450892"  # region 330401, born 05-08-1992, female


def nik(serial: int, prefix: str = PREFIX) -> str:
    return f"{prefix}{serial:04d}"


def detector(**cfg: Any) -> tuple[AntiScrape, FakeClock]:
    clock = FakeClock(1_700_000_000.0)
    base = {"burst_limit": 0, "device_burst_limit": 0}
    base.update(cfg)
    return AntiScrape(AntiScrapeConfig(**base), clock), clock


def test_three_consecutive_serials_are_sequential() -> None:
    scrape, _ = detector()
    assert scrape.check("inst", "dev", nik(17)) is None
    assert scrape.check("inst", "dev", nik(18)) is None  # twins happen
    assert scrape.check("inst", "dev", nik(16)) == "sequential"
    # Another institution has its own state.
    assert scrape.check("other", "dev", nik(19)) is None


def test_repeats_and_scattered_serials_pass() -> None:
    scrape, _ = detector()
    for serial in (5, 5, 40, 5, 77, 40):
        assert scrape.check("inst", "dev", nik(serial)) is None


def test_arithmetic_progression_is_a_pattern() -> None:
    scrape, _ = detector()
    verdicts = [scrape.check("inst", "dev", nik(s)) for s in (10, 13, 16, 19)]
    assert verdicts == [None, None, None, "pattern"]


def test_scan_through_birth_dates_is_a_pattern() -> None:
    scrape, _ = detector()
    # Same region, month, year and serial; birth days 3, 4, 5, 6 (women: +40).
    niks = [f"330401{day + 40:02d}08920001" for day in (3, 4, 5, 6)]
    verdicts = [scrape.check("inst", "dev", n) for n in niks]
    assert verdicts == [None, None, None, "pattern"]


def test_many_serials_under_one_prefix_are_a_sweep() -> None:
    scrape, _ = detector(pattern_run=0, sequential_run=0)
    verdicts = [scrape.check("inst", "dev", nik(s)) for s in (3, 91, 40, 17, 66)]
    assert verdicts == [None, None, None, None, "prefix_sweep"]


def test_bursts_per_institution_and_per_device() -> None:
    scrape, clock = detector(burst_limit=5, device_burst_limit=3, burst_window_s=60)
    ayu, bagas = persona("ayu").nik, persona("bagas").nik
    verdicts = [scrape.check("inst", "dev-1", ayu) for _ in range(4)]
    assert verdicts == [None, None, None, "device_burst"]
    assert scrape.check("inst", "dev-2", bagas) is None
    assert scrape.check("inst", "dev-3", bagas) == "burst"
    clock.advance(61)
    assert scrape.check("inst", "dev-1", ayu) is None


def test_state_expires_after_the_window() -> None:
    scrape, clock = detector(window_s=600)
    scrape.check("inst", "dev", nik(17))
    scrape.check("inst", "dev", nik(18))
    assert len(scrape) > 0
    clock.advance(601)
    assert scrape.check("inst", "dev", nik(16)) is None  # the run expired
    clock.advance(601)
    scrape.check("inst", "dev", persona("bagas").nik)
    assert len(scrape) == 2  # only the last look-up's two buckets remain


def test_state_is_keyed_by_a_mac_with_a_random_key() -> None:
    one, _ = detector()
    two, _ = detector()
    one.check("inst", "dev", nik(17))
    two.check("inst", "dev", nik(17))
    keys_one, keys_two = set(one._buckets), set(two._buckets)
    assert all(isinstance(k, bytes) and len(k) == 32 for k in keys_one)
    assert keys_one.isdisjoint(keys_two)
    blob = b"".join(keys_one)
    assert PREFIX.encode() not in blob and b"inst" not in blob


async def test_pattern_blocked_end_to_end(
    make_gateway: MakeGateway,
    make_client: MakeClient,
    certs: Certs,
    sim: RunningDukcapilSim,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gw = await make_gateway()
    kiosk = make_client(gw, certs.devices["KIOSK-B1"])
    with caplog.at_level(logging.WARNING, logger="gateway.security"):
        outcomes = [(await kiosk.verify(nik(s)))[1]["outcome"] for s in (21, 22, 23, 24)]
    assert outcomes == ["NOT_FOUND", "NOT_FOUND", "PATTERN_BLOCKED", "PATTERN_BLOCKED"]
    assert sim.stats.queries == 2  # blocked look-ups never reach the upstream
    events = [r.getMessage() for r in caplog.records if r.name == "gateway.security"]
    assert sum("pattern_blocked rule=sequential" in e for e in events) == 2
    assert all("institution=dinsos-b" in e and PREFIX not in e for e in events)
    _, body = await kiosk.verify(nik(23))
    assert body["text"]["id"] == "Permintaan ditolak oleh sistem keamanan"


async def test_blocked_look_ups_use_no_quota(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    def strict(data: dict[str, Any]) -> None:
        data["antiscrape"]["device_burst_limit"] = 2

    gw = await make_gateway(mutate=strict)
    kiosk = make_client(gw, certs.devices["KIOSK-A1"])
    outcomes = [(await kiosk.verify(persona("ayu").nik))[1]["outcome"] for _ in range(4)]
    assert outcomes == ["FOUND", "FOUND", "PATTERN_BLOCKED", "PATTERN_BLOCKED"]
    _, body = await make_client(gw, certs.admin).request(
        "GET", "/admin/v1/institutions/perpus-a/quota"
    )
    assert body["used"] == 2


def test_a_bucket_keeps_the_latest_64_look_ups() -> None:
    scrape, clock = detector(pattern_run=0, sequential_run=0, prefix_limit=0)
    for serial in range(1, 200, 2):
        clock.advance(1)
        assert scrape.check("inst", "dev", nik(serial)) is None
    sizes = sorted(len(bucket) for bucket in scrape._buckets.values())
    assert sizes[-1] == 2 * 64  # the prefix bucket: 64 (time, serial) pairs


def test_buckets_cost_the_garbage_collector_nothing_once_seen() -> None:
    scrape, clock = detector()
    for serial in (11, 40, 97):
        clock.advance(1)
        scrape.check("inst", "dev", nik(serial))
    gc.collect()
    assert scrape._buckets and not any(gc.is_tracked(b) for b in scrape._buckets.values())
