"""The report's reading of the real gateway's admin API: its institutions, its counts of one
institution per day and outcome (data balikan included), its daily limit."""

from __future__ import annotations

import asyncio

from common.tls import client_context
from fleet.gateway import GatewayAdmin
from fleet.semester.period import Semester
from fleet.semester.sources import GatewayCounts, gateway_counts
from gateway.server import RunningGateway
from tests.mqtt.fixtures import Certs


async def test_the_gateway_counts_of_a_semester(gateway: RunningGateway, certs: Certs) -> None:
    await gateway.store.add_usage(
        {
            ("perpus-a", "2026-07-03", "FOUND"): 7,
            ("perpus-a", "2026-07-03", "RETURN_ACCEPTED"): 6,
            ("perpus-a", "2026-12-31", "PATTERN_BLOCKED"): 2,
            ("perpus-a", "2026-06-30", "FOUND"): 99,  # the semester before
        }
    )
    ctx = client_context(certs.pki.server_ca.cert, certs.admin.cert, certs.admin.key)

    def read() -> tuple[GatewayCounts, GatewayCounts]:
        client = GatewayAdmin(gateway.url, ctx)
        known = gateway_counts(client, "perpus-a", Semester(2026, 2))
        unknown = gateway_counts(GatewayAdmin(gateway.url, ctx), "nobody", Semester(2026, 2))
        return known, unknown

    known, unknown = await asyncio.to_thread(read)
    assert known.error is None and known.known is True
    assert known.usage == {
        ("2026-07-03", "FOUND"): 7,
        ("2026-07-03", "RETURN_ACCEPTED"): 6,
        ("2026-12-31", "PATTERN_BLOCKED"): 2,
    }
    assert known.daily_limit == 200  # before PoC approval
    assert unknown.known is False and unknown.usage is None

    down = GatewayAdmin("https://127.0.0.1:9", ctx, timeout=2.0)
    failed = await asyncio.to_thread(gateway_counts, down, "perpus-a", Semester(2026, 2))
    assert failed.usage is None and "cannot reach the gateway" in (failed.error or "")
