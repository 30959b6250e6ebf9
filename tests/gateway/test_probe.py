"""The probe listener: GET /v1/health over plain HTTP for load balancers, and nothing else."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from gateway.errors import ConfigError
from gateway.server import RunningGateway
from tests.gateway.conftest import MakeGateway


def _probe_on_any_port(data: dict[str, Any]) -> None:
    data["server"]["probe_port"] = 0


async def _get(gw: RunningGateway, method: str, path: str) -> tuple[int, dict[str, Any]]:
    assert gw.probe_port is not None
    url = f"http://127.0.0.1:{gw.probe_port}{path}"
    async with aiohttp.ClientSession() as session, session.request(method, url) as resp:
        return resp.status, await resp.json()


async def test_health_without_a_client_certificate(make_gateway: MakeGateway) -> None:
    gw = await make_gateway(mutate=_probe_on_any_port)
    assert await _get(gw, "GET", "/v1/health") == (
        200,
        {"status": "ok", "store": "ok", "upstream": "ok"},
    )


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/v1/health", 405),
        ("POST", "/v1/verifications", 404),
        ("POST", "/v1/returns", 404),
        ("GET", "/admin/v1/usage", 404),
    ],
)
async def test_nothing_else_on_the_probe_listener(
    make_gateway: MakeGateway, method: str, path: str, status: int
) -> None:
    gw = await make_gateway(mutate=_probe_on_any_port)
    got, body = await _get(gw, method, path)
    assert got == status
    assert set(body) == {"error"}


async def test_probe_listener_is_off_by_default(make_gateway: MakeGateway) -> None:
    gw = await make_gateway()
    assert gw.probe_port is None


async def test_probe_port_must_be_a_port(make_gateway: MakeGateway) -> None:
    def bad(data: dict[str, Any]) -> None:
        data["server"]["probe_port"] = 70000

    with pytest.raises(ConfigError, match=r"server\.probe_port"):
        await make_gateway(mutate=bad)


async def test_probe_listener_stops_with_the_gateway(make_gateway: MakeGateway) -> None:
    gw = await make_gateway(mutate=_probe_on_any_port)
    await gw.close()
    with pytest.raises(aiohttp.ClientConnectionError):
        await _get(gw, "GET", "/v1/health")
