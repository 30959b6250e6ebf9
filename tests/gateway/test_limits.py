"""The listener's limits: idle TCP floods cost little, connections are bounded in all and per
address (with a warning), handshakes and requests must arrive in time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

import pytest

from gateway.server import RunningGateway
from simulators.personas import persona
from tests.gateway.conftest import Certs, MakeClient, MakeGateway
from tests.waiting import until

AYU = persona("ayu").nik
FLOOD = 3000


def server(**limits: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        data["server"].update(limits)

    return mutate


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def connect(gw: RunningGateway, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", gw.port))
    return sock


async def closed_by_server(sock: socket.socket, timeout_s: float = 5.0) -> bool:
    """True when the server closes the connection within the timeout."""
    loop = asyncio.get_running_loop()
    sock.settimeout(timeout_s)

    def wait() -> bool:
        try:
            while sock.recv(4096):
                pass
        except TimeoutError:
            return False
        except OSError:
            pass
        return True

    return await loop.run_in_executor(None, wait)


async def test_idle_tcp_flood_costs_little_and_kiosks_still_get_in(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 3 * FLOOD:
        pytest.skip("the hard limit on open files is too low for the flood")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 3 * FLOOD), hard))
    gw = await make_gateway(mutate=server(max_connections=FLOOD + 100, handshake_timeout_s=60.0))
    kiosk = make_client(gw, certs.devices["KIOSK-A1"])
    assert (await kiosk.verify(AYU))[0] == 200  # warm: the first TLS and upstream set-up
    before = rss_mb()
    # Connected from a thread: the gateway accepts in this loop meanwhile.
    flood = await asyncio.get_running_loop().run_in_executor(
        None, lambda: [connect(gw, f"127.0.{1 + i // 250}.{2 + i % 250}") for i in range(FLOOD)]
    )
    try:
        await until(lambda: gw.guard.count >= FLOOD, gw.guard.changed)
        during = rss_mb()
        status, body = await kiosk.verify(AYU)
        assert (status, body["outcome"]) == (200, "FOUND")
    finally:
        for sock in flood:
            sock.close()
    await until(lambda: gw.guard.count <= 1, gw.guard.changed)
    after = rss_mb()
    print(
        f"\nRSS with {FLOOD} idle TCP connections (gateway and test in one process): "
        f"before {before:.1f} MB, during {during:.1f} MB (+{during - before:.1f}), "
        f"after closing {after:.1f} MB"
    )
    assert during - before <= 50
    assert after - before <= 10


@pytest.mark.parametrize("which", ["in_all", "per_address"])
async def test_connection_limits_refuse_and_warn(
    make_gateway: MakeGateway, caplog: pytest.LogCaptureFixture, which: str
) -> None:
    limits = {"max_connections": 5} if which == "in_all" else {"max_connections_per_address": 5}
    gw = await make_gateway(mutate=server(**limits, handshake_timeout_s=30.0))
    caplog.set_level(logging.WARNING, "gateway.security")
    held = [connect(gw) for _ in range(5)]
    await until(lambda: gw.guard.count == 5, gw.guard.changed)
    extra = connect(gw)
    try:
        assert await closed_by_server(extra)
        assert gw.guard.count == 5
        assert "connection limit" in caplog.text
        if which == "per_address":
            other = connect(gw, "127.0.0.9")
            await until(lambda: gw.guard.count == 6, gw.guard.changed)
            other.close()
    finally:
        for sock in [*held, extra]:
            sock.close()
    await until(lambda: gw.guard.count == 0, gw.guard.changed)


@pytest.mark.parametrize("first", [b"", b"\x16\x03\x01"])
async def test_handshake_must_end_in_time(make_gateway: MakeGateway, first: bytes) -> None:
    gw = await make_gateway(mutate=server(handshake_timeout_s=0.3))
    sock = connect(gw)
    with contextlib.closing(sock):
        sock.sendall(first)
        started = time.monotonic()
        assert await closed_by_server(sock)
        assert time.monotonic() - started < 3
    await until(lambda: gw.guard.count == 0, gw.guard.changed)


async def _tls(gw: RunningGateway, certs: Certs) -> ssl.SSLSocket:
    ctx = certs.pki.client_context(certs.devices["KIOSK-B1"])
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        None, lambda: ctx.wrap_socket(connect(gw), server_hostname="localhost")
    )


@pytest.mark.parametrize("trickle", [False, True])
async def test_a_request_must_arrive_in_time_even_when_authenticated(
    make_gateway: MakeGateway, certs: Certs, trickle: bool
) -> None:
    gw = await make_gateway(mutate=server(request_timeout_s=0.5))
    tls = await _tls(gw, certs)
    with contextlib.closing(tls):
        head = b"POST /v1/verifications HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n"
        started = time.monotonic()
        if not trickle:
            tls.sendall(head)
            assert await closed_by_server(tls)
        else:
            with contextlib.suppress(OSError):
                for byte in head * 10:  # one byte every 50 ms keeps nothing open
                    tls.sendall(bytes([byte]))
                    if await closed_by_server(tls, 0.05):
                        break
            assert time.monotonic() - started < 5
        assert time.monotonic() - started < 5
    await until(lambda: gw.guard.count == 0, gw.guard.changed)


async def test_a_slow_body_is_cut_too(make_gateway: MakeGateway, certs: Certs) -> None:
    gw = await make_gateway(mutate=server(request_timeout_s=0.5))
    tls = await _tls(gw, certs)
    with contextlib.closing(tls):
        tls.sendall(
            b"POST /v1/verifications HTTP/1.1\r\nHost: gw\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        assert await closed_by_server(tls)


async def test_refused_handshakes_are_released(make_gateway: MakeGateway, certs: Certs) -> None:
    gw = await make_gateway()
    ctx = certs.pki.client_context(None)

    def refused() -> None:
        with (
            contextlib.suppress(OSError),
            ctx.wrap_socket(connect(gw), server_hostname="localhost") as tls,
        ):
            tls.sendall(b"GET /v1/health HTTP/1.1\r\nHost: gw\r\n\r\n")
            tls.recv(1)

    await asyncio.get_running_loop().run_in_executor(None, refused)
    await until(lambda: gw.guard.count == 0, gw.guard.changed)
