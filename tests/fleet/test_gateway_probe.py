"""The health report's gateway probe against the real gateway: reachable, with a round trip."""

from __future__ import annotations

import email.utils
import time

from common.tls import client_context
from edge_agent.uplink.health import GatewayPing
from gateway.server import RunningGateway
from kiosk_sim.broker import free_port
from tests.mqtt.fixtures import DEVICE, Certs


async def test_gateway_probe(gateway: RunningGateway, certs: Certs) -> None:
    issued = certs.devices[DEVICE]
    ctx = client_context(certs.pki.server_ca.cert, issued.cert, issued.key)
    ping = GatewayPing(gateway.url, ctx)
    dates: list[str | None] = []
    ping.on_date = dates.append  # the gateway's clock, measured at each probe
    try:
        reachable, rtt = await ping()
        assert reachable and rtt is not None and 0 < rtt < 5000
        assert len(dates) == 1 and dates[0] is not None
        assert abs(email.utils.parsedate_to_datetime(dates[0]).timestamp() - time.time()) < 5
        again, rtt2 = await ping()  # keep-alive: no new handshake
        assert again and rtt2 is not None
    finally:
        await ping.close()
    down = GatewayPing(f"https://127.0.0.1:{free_port()}", ctx, timeout=2.0)
    try:
        assert await down() == (False, None)
    finally:
        await down.close()
