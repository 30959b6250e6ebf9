"""Fleet scenarios that check what the fleet service saw: its store, read as the dashboard reads
it. The usage it stored equals the verifications done, across a broker outage and a restart of
the service; a tamper's alert reaches the admins' webhook within 2 s.

The service runs as its own process (`FleetServiceProcess`); `ServiceHooks` stops and starts it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from fleet.store import StoreConfig, open_store
from kiosk_sim.alert_inbox import RAISED, AlertInbox
from kiosk_sim.fleet_scenarios import FleetContext, Scenario, _usage_today, tamper
from kiosk_sim.mqtt_recorder import MessageRecorder
from protocol.mqtt import Channel, topic

TAMPER_ALERT_WITHIN_S = 2.0
POLL_S = 0.05  # the store is another process's: read again this often until the condition holds


@dataclass(frozen=True)
class ServiceHooks:
    """The fleet service of the stack: where its SQLite store is, the admins' webhook its
    alerts go to, how to stop and start it."""

    store_path: Path
    alerts: AlertInbox
    stop: Callable[[], Awaitable[object]]
    start: Callable[[], Awaitable[None]]


def _service(ctx: FleetContext) -> ServiceHooks:
    if ctx.service is None:
        raise RuntimeError("this stack runs no fleet service")
    hooks: ServiceHooks = ctx.service
    return hooks


def _stored_total(store_path: Path, device: str, day: str) -> int:
    """The verifications the service stored for `device` on `day` (its local day)."""
    store = open_store(StoreConfig(store_path))
    try:
        return sum(u.total for u in store.usage(device=device, first=day, last=day))
    finally:
        store.close()


async def _until(condition: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until `condition()` (run in a thread) held, None if it did not within `timeout`."""
    start = time.monotonic()
    while not await asyncio.to_thread(condition):
        if time.monotonic() - start > timeout:
            return None
        await asyncio.sleep(POLL_S)
    return time.monotonic() - start


async def usage_stored_across_outages(ctx: FleetContext) -> tuple[str, str]:
    """Verifications while the broker is down and while the service is down: the usage the
    service stored equals the verifications done, none lost, none counted twice."""
    service, k = _service(ctx), ctx.kiosk
    rec = MessageRecorder(
        ctx.broker, ctx.setup, (topic(k.device_id, Channel.USAGE),), "usage-ledger"
    )
    await asyncio.to_thread(rec.start)
    try:
        start = rec.count()
        await k.verify()
        if await rec.await_for(lambda n, _: True, ctx.timeout, start) is None:
            return "usage reported", "no usage report"
        first = _usage_today(rec.messages, k.device_id)
        if first is None:
            return "usage reported", "no readable usage report"
        day, baseline = first.day, first.total  # the kiosk's count for today so far

        def stored() -> int:
            return _stored_total(service.store_path, k.device_id, day)

        if await _until(lambda: stored() == baseline, ctx.timeout) is None:
            return f"stored {baseline} before the outages", f"stored {stored()}"
        done = 0
        await asyncio.to_thread(ctx.broker.stop)
        for _ in range(2):
            await k.verify()
            done += 1
        await asyncio.to_thread(ctx.broker.start)
        await service.stop()
        for _ in range(2):
            await k.verify()
            done += 1
        await service.start()
        await k.verify()
        done += 1
    finally:
        await asyncio.to_thread(rec.stop)
    want = baseline + done
    settled = await _until(lambda: stored() >= want, ctx.timeout)
    got = await asyncio.to_thread(stored)
    expected = f"stored {want} (= {baseline} before + {done} across both outages)"
    late = "" if settled is not None else ", not within the timeout"
    return (
        expected,
        f"stored {got} (= {baseline} before + {got - baseline} across both outages{late})",
    )


async def tamper_alerted(ctx: FleetContext) -> tuple[str, str]:
    """The tamper scenario, and the service's tamper alert at the admins' webhook within 2 s."""
    service, k = _service(ctx), ctx.kiosk
    watch = asyncio.create_task(service.alerts.until("tamper", k.device_id, RAISED, ctx.timeout))
    expected, got = await tamper(ctx)
    took = await watch
    alert = "no alert" if took is None else f"alert in {took:.1f} s"
    if took is not None and took <= TAMPER_ALERT_WITHIN_S:
        alert = f"alert within {TAMPER_ALERT_WITHIN_S:g} s"
    return f"{expected}, alert within {TAMPER_ALERT_WITHIN_S:g} s", f"{got}, {alert}"


SERVICE_SCENARIOS: list[tuple[str, Scenario]] = [
    (
        "fleet service: usage stored = verifications, across broker and service outages",
        usage_stored_across_outages,
    ),
]
"""After the kiosk's own fleet scenarios; `tamper_alerted` replaces tamper when a service runs."""
