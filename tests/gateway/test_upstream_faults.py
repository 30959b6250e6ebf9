"""Upstream faults: slow, 5xx, dropped connection, garbage body. Each gets SERVICE_UNAVAILABLE,
is not replayed for its request id, and the gateway recovers when the upstream does."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.dukcapil import RunningDukcapilSim
from simulators.personas import persona
from tests.gateway.conftest import Certs, MakeClient, MakeGateway, new_request_id

AYU = persona("ayu").nik


def _short_timeout(data: dict[str, Any]) -> None:
    data["upstream"]["timeout_s"] = 0.3


@pytest.mark.parametrize(
    ("kind", "extra"),
    [("slow", {"delay_s": 30.0}), ("error", {"status": 502}), ("drop", {}), ("garbage", {})],
)
async def test_each_fault_is_service_unavailable(
    make_gateway: MakeGateway,
    make_client: MakeClient,
    certs: Certs,
    sim: RunningDukcapilSim,
    kind: str,
    extra: dict[str, Any],
) -> None:
    gw = await make_gateway(mutate=_short_timeout)
    kiosk = make_client(gw, certs.devices["KIOSK-B1"])
    assert (await kiosk.verify(AYU))[1]["outcome"] == "FOUND"  # logged in, connection pooled
    sim.set_fault(kind, **extra)
    rid = new_request_id()
    status, body = await kiosk.verify(AYU, rid)
    assert status == 503
    assert body == {
        "error": {
            "code": "SERVICE_UNAVAILABLE",
            "message": "the population database did not answer",
        }
    }
    _, health = await kiosk.request("GET", "/v1/health")
    assert health["upstream"] == "failing"
    sim.clear_fault()
    status, body = await kiosk.verify(AYU, rid)  # the retry is answered, not replayed
    assert (status, body["outcome"]) == (200, "FOUND")
    _, health = await kiosk.request("GET", "/v1/health")
    assert health["upstream"] == "ok"


async def test_expired_login_token_is_renewed(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs, sim: RunningDukcapilSim
) -> None:
    gw = await make_gateway()
    kiosk = make_client(gw, certs.devices["KIOSK-B1"])
    assert (await kiosk.verify(AYU))[1]["outcome"] == "FOUND"
    sim.sim.expire_tokens()
    assert (await kiosk.verify(AYU))[1]["outcome"] == "FOUND"
    assert sim.stats.logins == 2


async def test_upstream_down_at_start(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway(upstream_url="http://127.0.0.1:9")
    status, body = await make_client(gw, certs.devices["KIOSK-B1"]).verify(AYU)
    assert (status, body["error"]["code"]) == (503, "SERVICE_UNAVAILABLE")


async def test_unexpected_error_is_a_bare_500(
    make_gateway: MakeGateway,
    make_client: MakeClient,
    certs: Certs,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gw = await make_gateway()

    async def broken(account: Any, nik: str) -> Any:
        raise RuntimeError(f"something about {nik}")

    gw.relay._upstream.verify = broken  # type: ignore[method-assign]
    status, body = await make_client(gw, certs.devices["KIOSK-B1"]).verify(AYU)
    assert (status, body) == (500, {"error": {"code": "INTERNAL", "message": "internal error"}})
    assert "Traceback" not in str(body)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError (message withheld)" in logged
    assert AYU not in logged
